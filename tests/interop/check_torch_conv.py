"""PyTorch reads digits' safetensors export of a convolutional run, in PyTorch's layout
(`digits export --format safetensors --layout pytorch`), and must agree with digits.

    python3 tests/interop/check_torch_conv.py --mnist DIR --reference PROBS.f32 \
        --safetensors MODEL.safetensors --pool 2 [--pool 0 ...] --activation relu --output logits

The module below names its `Conv2d` and `Linear` layers as the file does (`conv.{i}.conv`,
`layers.{i}`), so `load_state_dict` takes the file as it is, strictly: every name and shape must
match. Each `--pool` is a conv layer's max-pooling window (0 for none); the layers have stride 1
and no padding. Prints one JSON object as check.py does; exits 1 on a disagreement.
"""

import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(__file__))
from check import compare, normalise  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
import mnist  # noqa: E402


class ConvLayer(nn.Module):
    """digits' `ConvLayer`: a convolution, then max-pooling, then the activation."""

    def __init__(self, channels, maps, kernel, pool, activation):
        super().__init__()
        self.conv = nn.Conv2d(channels, maps, kernel)
        self.pool = nn.MaxPool2d(pool) if pool else nn.Identity()
        self.activation = activation

    def forward(self, x):
        return self.activation(self.pool(self.conv(x)))


class Network(nn.Module):
    """digits' `Network`: the conv layers, flattened channel, row, column, then `Linear` layers."""

    def __init__(self, tensors, pools, activation, output):
        super().__init__()
        act = torch.sigmoid if activation == "sigmoid" else torch.relu
        shapes = [tensors[f"conv.{i}.conv.weight"].shape for i in range(len(pools))]
        self.conv = nn.ModuleList(ConvLayer(s[1], s[0], s[2], p, act) for s, p in zip(shapes, pools))
        count = sum(1 for k in tensors if k.startswith("layers.") and k.endswith(".weight"))
        sizes = [tensors[f"layers.{i}.weight"].shape for i in range(count)]
        self.layers = nn.ModuleList(nn.Linear(s[1], s[0]) for s in sizes)  # [out, in]
        self.act, self.output = act, output

    def forward(self, x):
        x = x.reshape(-1, 1, 28, 28)
        for layer in self.conv:
            x = layer(x)
        x = torch.flatten(x, 1)
        for layer in self.layers[:-1]:
            x = self.act(layer(x))
        x = self.layers[-1](x)
        return torch.sigmoid(x) if self.output == "sigmoid" else x


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mnist", required=True)
    parser.add_argument("--reference", required=True)
    parser.add_argument("--safetensors", required=True)
    parser.add_argument("--pool", type=int, action="append", required=True)
    parser.add_argument("--activation", choices=["sigmoid", "relu"], required=True)
    parser.add_argument("--output", choices=["sigmoid", "logits"], required=True)
    args = parser.parse_args()

    _, _, (images, _) = mnist.load(args.mnist)
    ours = np.fromfile(args.reference, dtype="<f4").reshape(len(images), -1).astype(np.float64)
    state = load_file(args.safetensors)
    model = Network(state, args.pool, args.activation, args.output)
    model.load_state_dict(state, strict=True)
    model.eval()
    with torch.no_grad():
        scores = model(torch.from_numpy(images)).double().numpy()
    result = compare("torch_conv", ours, normalise(scores, args.output))
    result["torch"] = torch.__version__
    print(json.dumps([result]))
    sys.exit(0 if result["agrees"] else 1)


if __name__ == "__main__":
    main()
