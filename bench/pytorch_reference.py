"""The networks of digits' bench in PyTorch on the CPU: the same data, split, initialisation
scheme, cost and hyper-parameters, timed the same way (the training pass of one epoch).

    pip install torch numpy
    python3 bench/pytorch_reference.py [--data-dir ../shared/data/mnist] [--epochs 3] [--threads 1]

Rows:
  nielsen        [784, 30, 10] sigmoid, N(0, 1) weights and biases, quadratic cost
                 1/(2m) Σ‖y − a‖², SGD lr 3.0, batch 10 (configs/nielsen.toml)
  two-layer-net  784-50-10 ReLU, N(0, 0.01²) weights, zero biases, softmax cross-entropy,
                 SGD lr 0.1, batch 100 (configs/two-layer-net.toml), and the same at batch 1000
Prints seconds per epoch (the median) and test accuracy; one JSON object per row at the end.
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import mnist  # noqa: E402


def nielsen():
    torch.manual_seed(1)
    net = torch.nn.Sequential(
        torch.nn.Linear(784, 30), torch.nn.Sigmoid(), torch.nn.Linear(30, 10), torch.nn.Sigmoid()
    )
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 1.0)

    def cost(output, y):
        target = torch.nn.functional.one_hot(y, 10).float()
        return (target - output).square().sum() / (2 * output.shape[0])

    return net, cost, 3.0


def two_layer_net():
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(784, 50), torch.nn.ReLU(), torch.nn.Linear(50, 10))
    with torch.no_grad():
        for layer in (net[0], net[2]):
            layer.weight.normal_(0.0, 0.01)
            layer.bias.zero_()
    return net, torch.nn.functional.cross_entropy, 0.1


ROWS = [
    ("configs/nielsen.toml", nielsen, 10),
    ("configs/two-layer-net.toml", two_layer_net, 100),
    ("configs/two-layer-net.toml", two_layer_net, 1000),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--data-dir", default=os.path.join(here, "..", "..", "shared", "data", "mnist"))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    started = time.perf_counter()
    (train_x, train_y), _, (test_x, test_y) = mnist.load(args.data_dir)
    train_x, train_y = torch.from_numpy(train_x), torch.from_numpy(train_y)
    test_x, test_y = torch.from_numpy(test_x), torch.from_numpy(test_y)
    load_seconds = time.perf_counter() - started
    n = len(train_x)
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} thread(s); MNIST loaded in {load_seconds:.3f} s")

    results = []
    for config, build, batch in ROWS:
        net, cost, lr = build()
        optimizer = torch.optim.SGD(net.parameters(), lr=lr)
        generator = torch.Generator().manual_seed(1)
        times = []
        for epoch in range(args.epochs):
            begun = time.perf_counter()
            order = torch.randperm(n, generator=generator)
            x, y = train_x[order], train_y[order]
            for start in range(0, n, batch):
                optimizer.zero_grad(set_to_none=True)
                loss = cost(net(x[start:start + batch]), y[start:start + batch])
                loss.backward()
                optimizer.step()
            times.append(time.perf_counter() - begun)
        with torch.no_grad():
            accuracy = (net(test_x).argmax(1) == test_y).float().mean().item()
        row = {
            "config": config,
            "batch_size": batch,
            "backend": f"pytorch-{torch.__version__}",
            "threads": torch.get_num_threads(),
            "epoch_seconds": statistics.median(times),
            "examples_per_second": n / statistics.median(times),
            "load_seconds": load_seconds,
            "test_accuracy": accuracy,
        }
        results.append(row)
        print(f"{config:<28} batch {batch:>5}  {row['epoch_seconds']:.3f} s/epoch  test {100 * accuracy:.2f}% after {args.epochs} epochs")
    for row in results:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
