"""MNIST for the reference scripts: the four IDX files (gzipped or not) of a folder, split as
digits and network.py split them. Needs numpy only."""

import gzip
import os

import numpy as np


def _read(folder, name):
    for candidate in (name, name + ".gz"):
        path = os.path.join(folder, candidate)
        if os.path.exists(path):
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rb") as f:
                return f.read()
    raise SystemExit(f"error: {folder}: no {name}(.gz); pass the folder with the four MNIST files")


def _images(folder, name):
    data = _read(folder, name)
    n = int.from_bytes(data[4:8], "big")
    return np.frombuffer(data, np.uint8, offset=16).reshape(n, 784).astype(np.float32) / 255.0


def _labels(folder, name):
    data = _read(folder, name)
    return np.frombuffer(data, np.uint8, offset=8).astype(np.int64)


def load(folder, validation=10_000):
    """(train_x, train_y), (validation_x, validation_y), (test_x, test_y): float32 pixels in
    [0, 1] of shape [n, 784] and int64 labels. Train is the first 60,000 − validation images."""
    x = _images(folder, "train-images-idx3-ubyte")
    y = _labels(folder, "train-labels-idx1-ubyte")
    test = (_images(folder, "t10k-images-idx3-ubyte"), _labels(folder, "t10k-labels-idx1-ubyte"))
    cut = len(x) - validation
    return (x[:cut], y[:cut]), (x[cut:], y[cut:]), test
