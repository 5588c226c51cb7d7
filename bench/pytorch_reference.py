"""The networks of digits' bench in PyTorch on the CPU: the same data, split, initialisation
scheme, cost and hyper-parameters, timed the same way (the training pass of one epoch).

    pip install torch numpy
    python3 bench/pytorch_reference.py [--data-dir ../shared/data/mnist] [--epochs 3] [--threads 1]
        [--only TEXT]

Rows:
  nielsen         [784, 30, 10] sigmoid, N(0, 1) weights and biases, quadratic cost
                  1/(2m) Σ‖y − a‖², SGD lr 3.0, batch 10 (configs/nielsen.toml)
  two-layer-net   784-50-10 ReLU, N(0, 0.01²) weights, zero biases, softmax cross-entropy,
                  SGD lr 0.1, batch 100 (configs/two-layer-net.toml), and the same at batch 1000
  network3-conv1  conv 20 5×5, max-pool 2, FC 100, softmax 10, sigmoid, network3.py's init
                  (N(0, 1/n_out) weights, N(0, 1) biases, a zero softmax layer), cross-entropy,
                  SGD lr 0.1, batch 10 (configs/network3-conv1.toml)
  network3-conv2  the same with a second conv 40 5×5 and max-pool 2, at batch 10 and 100
  simple-convnet  DLFS's SimpleConvNet: conv 30 5×5, ReLU, max-pool 2, FC 100, ReLU, FC 10,
                  N(0, 0.01²) weights, zero biases, Adam lr 0.001, at batch 100 and 10
Each row runs in a process of its own, so that its peak RSS (ru_maxrss) is its own. Prints
seconds per epoch (the median), examples per second, peak RSS and test accuracy; one JSON object
per row at the end. `--only` keeps the rows whose "config batch " contains the text (with the
trailing space, "configs/two-layer-net.toml 100 " is one row).
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
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

    return net, cost, ("sgd", 3.0)


def two_layer_net():
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(784, 50), torch.nn.ReLU(), torch.nn.Linear(50, 10))
    with torch.no_grad():
        for layer in (net[0], net[2]):
            layer.weight.normal_(0.0, 0.01)
            layer.bias.zero_()
    return net, torch.nn.functional.cross_entropy, ("sgd", 0.1)


class ConvLayer(torch.nn.Module):
    """digits' conv layer: a convolution, max-pooling, then the activation."""

    def __init__(self, channels, maps, activation):
        super().__init__()
        self.conv = torch.nn.Conv2d(channels, maps, 5)
        self.pool = torch.nn.MaxPool2d(2)
        self.activation = activation

    def forward(self, x):
        return self.activation(self.pool(self.conv(x)))


class ConvNet(torch.nn.Module):
    """Conv layers on the [N, 784] pixels seen as [N, 1, 28, 28], flattened channel, row,
    column into fully connected layers, the last giving logits."""

    def __init__(self, maps, sizes, activation):
        super().__init__()
        channels = [1] + maps
        self.conv = torch.nn.ModuleList(
            ConvLayer(c, m, activation) for c, m in zip(channels, maps))
        self.layers = torch.nn.ModuleList(
            torch.nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.activation = activation

    def forward(self, x):
        x = x.reshape(-1, 1, 28, 28)
        for layer in self.conv:
            x = layer(x)
        x = x.flatten(1)
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return self.layers[-1](x)


def network3(maps, sizes):
    """network3.py's ConvPoolLayer/FullyConnectedLayer/SoftmaxLayer init: weights N(0, 1/n_out)
    with a conv layer's n_out = maps·k²/pool², biases N(0, 1), the softmax layer zero."""
    torch.manual_seed(1)
    net = ConvNet(maps, sizes, torch.sigmoid)
    with torch.no_grad():
        for layer in net.conv:
            n_out = layer.conv.out_channels * 25 / 4
            layer.conv.weight.normal_(0.0, (1 / n_out) ** 0.5)
            layer.conv.bias.normal_(0.0, 1.0)
        for layer in net.layers[:-1]:
            layer.weight.normal_(0.0, (1 / layer.out_features) ** 0.5)
            layer.bias.normal_(0.0, 1.0)
        net.layers[-1].weight.zero_()
        net.layers[-1].bias.zero_()
    return net, torch.nn.functional.cross_entropy, ("sgd", 0.1)


def simple_convnet():
    torch.manual_seed(1)
    net = ConvNet([30], [4320, 100, 10], torch.relu)
    with torch.no_grad():
        for p in net.parameters():
            if p.dim() > 1:
                p.normal_(0.0, 0.01)
            else:
                p.zero_()
    return net, torch.nn.functional.cross_entropy, ("adam", 0.001)


ROWS = [
    ("configs/nielsen.toml", nielsen, 10),
    ("configs/two-layer-net.toml", two_layer_net, 100),
    ("configs/two-layer-net.toml", two_layer_net, 1000),
    ("configs/network3-conv1.toml", lambda: network3([20], [2880, 100, 10]), 10),
    ("configs/network3-conv2.toml", lambda: network3([20, 40], [640, 100, 10]), 10),
    ("configs/network3-conv2.toml", lambda: network3([20, 40], [640, 100, 10]), 100),
    ("configs/simple-convnet.toml", simple_convnet, 100),
    ("configs/simple-convnet.toml", simple_convnet, 10),
]


def run_row(index, args, load_seconds, data):
    """One row, in this process."""
    (train_x, train_y), (test_x, test_y) = data
    n = len(train_x)
    config, build, batch = ROWS[index]
    net, cost, (optimizer_name, lr) = build()
    if optimizer_name == "adam":
        optimizer = torch.optim.Adam(net.parameters(), lr=lr, eps=1e-7)
    else:
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
        accuracy = sum((net(test_x[i:i + 1000]).argmax(1) == test_y[i:i + 1000]).sum().item()
                       for i in range(0, len(test_x), 1000)) / len(test_x)
    return {
        "config": config,
        "batch_size": batch,
        "backend": f"pytorch-{torch.__version__}",
        "threads": torch.get_num_threads(),
        "epoch_seconds": statistics.median(times),
        "examples_per_second": n / statistics.median(times),
        "load_seconds": load_seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "test_accuracy": accuracy,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--data-dir", default=os.path.join(here, "..", "..", "shared", "data", "mnist"))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", help='only the rows whose "config batch" contains this text')
    parser.add_argument("--row", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    if args.row is not None:
        started = time.perf_counter()
        (train_x, train_y), _, (test_x, test_y) = mnist.load(args.data_dir)
        data = ((torch.from_numpy(train_x), torch.from_numpy(train_y)),
                (torch.from_numpy(test_x), torch.from_numpy(test_y)))
        print(json.dumps(run_row(args.row, args, time.perf_counter() - started, data)))
        return

    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    results = []
    for index, (config, _, batch) in enumerate(ROWS):
        if args.only and args.only not in f"{config} {batch} ":
            continue
        command = [sys.executable, __file__, "--row", str(index), "--data-dir", args.data_dir,
                   "--epochs", str(args.epochs), "--threads", str(args.threads)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        row = json.loads(done.stdout.splitlines()[-1])
        results.append(row)
        print(f"{config:<28} batch {batch:>5}  {row['epoch_seconds']:.3f} s/epoch  "
              f"{row['examples_per_second']:.0f} examples/s  {row['peak_rss_mb']:.0f} MB  "
              f"test {100 * row['test_accuracy']:.2f}% after {args.epochs} epochs", flush=True)
    for row in results:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
