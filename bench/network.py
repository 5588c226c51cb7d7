"""Michael Nielsen's network.py (Neural Networks and Deep Learning, chapter 1), ported to
Python 3 for timing: the same algorithm, backprop one example at a time within each
mini-batch, as the book's code does. It prints network.py's own line after each epoch and the
seconds of the epoch's training pass.

    pip install numpy
    python3 bench/network.py [--data-dir ../shared/data/mnist] [--epochs 1]

Original code: https://github.com/mnielsen/neural-networks-and-deep-learning (MIT licence).
"""

import argparse
import os
import random
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import mnist  # noqa: E402


class Network:
    def __init__(self, sizes):
        self.num_layers = len(sizes)
        self.sizes = sizes
        self.biases = [np.random.randn(y, 1) for y in sizes[1:]]
        self.weights = [np.random.randn(y, x) for x, y in zip(sizes[:-1], sizes[1:])]

    def feedforward(self, a):
        for b, w in zip(self.biases, self.weights):
            a = sigmoid(np.dot(w, a) + b)
        return a

    def SGD(self, training_data, epochs, mini_batch_size, eta, test_data=None):
        n = len(training_data)
        for j in range(epochs):
            started = time.perf_counter()
            random.shuffle(training_data)
            mini_batches = [training_data[k:k + mini_batch_size] for k in range(0, n, mini_batch_size)]
            for mini_batch in mini_batches:
                self.update_mini_batch(mini_batch, eta)
            seconds = time.perf_counter() - started
            if test_data:
                print(f"Epoch {j}: {self.evaluate(test_data)} / {len(test_data)}  ({seconds:.2f} s training pass)")
            else:
                print(f"Epoch {j} complete ({seconds:.2f} s)")

    def update_mini_batch(self, mini_batch, eta):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        for x, y in mini_batch:
            delta_nabla_b, delta_nabla_w = self.backprop(x, y)
            nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b)]
            nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w)]
        self.weights = [w - (eta / len(mini_batch)) * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - (eta / len(mini_batch)) * nb for b, nb in zip(self.biases, nabla_b)]

    def backprop(self, x, y):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        activation = x
        activations = [x]
        zs = []
        for b, w in zip(self.biases, self.weights):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        delta = self.cost_derivative(activations[-1], y) * sigmoid_prime(zs[-1])
        nabla_b[-1] = delta
        nabla_w[-1] = np.dot(delta, activations[-2].transpose())
        for layer in range(2, self.num_layers):
            z = zs[-layer]
            sp = sigmoid_prime(z)
            delta = np.dot(self.weights[-layer + 1].transpose(), delta) * sp
            nabla_b[-layer] = delta
            nabla_w[-layer] = np.dot(delta, activations[-layer - 1].transpose())
        return (nabla_b, nabla_w)

    def evaluate(self, test_data):
        test_results = [(np.argmax(self.feedforward(x)), y) for (x, y) in test_data]
        return sum(int(x == y) for (x, y) in test_results)

    def cost_derivative(self, output_activations, y):
        return output_activations - y


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--data-dir", default=os.path.join(here, "..", "..", "shared", "data", "mnist"))
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    (train_x, train_y), _, (test_x, test_y) = mnist.load(args.data_dir)

    def vectorized(j):
        e = np.zeros((10, 1))
        e[j] = 1.0
        return e

    # mnist_loader.load_data_wrapper(): column vectors, one-hot training targets, float64.
    training_data = [(x.reshape(784, 1).astype(np.float64), vectorized(y)) for x, y in zip(train_x, train_y)]
    test_data = [(x.reshape(784, 1).astype(np.float64), int(y)) for x, y in zip(test_x, test_y)]
    random.seed(1)
    np.random.seed(1)
    net = Network([784, 30, 10])
    net.SGD(training_data, args.epochs, 10, 3.0, test_data=test_data)


if __name__ == "__main__":
    main()
