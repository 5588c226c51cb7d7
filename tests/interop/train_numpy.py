"""A network trained outside digits: TwoLayerNet (784-50-10, ReLU, softmax cross-entropy) in a
few lines of numpy, one epoch of SGD (lr 0.1, batch 100) over the first 50,000 training images,
saved as safetensors in PyTorch's nn.Linear layout ([out, in] weights).

    python3 tests/interop/train_numpy.py --mnist DIR --out theirs.safetensors
"""

import argparse
import os
import sys

import numpy as np
from safetensors.numpy import save_file

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
import mnist  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--mnist", required=True)
parser.add_argument("--out", required=True)
args = parser.parse_args()

(x, y), _, _ = mnist.load(args.mnist)
rng = np.random.default_rng(0)
w1 = rng.normal(0, np.sqrt(2 / 784), (784, 50)).astype(np.float32)
b1 = np.zeros(50, np.float32)
w2 = rng.normal(0, np.sqrt(2 / 50), (50, 10)).astype(np.float32)
b2 = np.zeros(10, np.float32)
for start in range(0, len(x), 100):
    xb, yb = x[start:start + 100], y[start:start + 100]
    h = np.maximum(xb @ w1 + b1, 0)
    z = h @ w2 + b2
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    dz = (p - np.eye(10, dtype=np.float32)[yb]) / len(xb)
    dh = (dz @ w2.T) * (h > 0)
    w2 -= 0.1 * h.T @ dz
    b2 -= 0.1 * dz.sum(0)
    w1 -= 0.1 * xb.T @ dh
    b1 -= 0.1 * dh.sum(0)
save_file({"layers.0.weight": np.ascontiguousarray(w1.T), "layers.0.bias": b1,
           "layers.1.weight": np.ascontiguousarray(w2.T), "layers.1.bias": b2}, args.out)
