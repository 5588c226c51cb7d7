"""PyTorch's examples/mnist network, trained in PyTorch for a short while and saved as main.py
saves it (`torch.save(model.state_dict(), "mnist_cnn.pt")`), then converted to safetensors as the
README says, for `digits import --layout pytorch` (configs/pytorch-mnist.toml).

    python3 tests/interop/train_torch_net.py --mnist DIR --out DIR [--images N]

writes DIR/mnist_cnn.pt and DIR/mnist_cnn.safetensors.

The Net and its input normalisation are main.py's, line for line; the training is main.py's
Adadelta (lr 1.0) over the first N training images (default 3,000), batch 64, one epoch, on one
thread so that it is the same on every machine. Prints one JSON object: how many of the 10,000
test images PyTorch reads right, and each one's prediction.
"""

import argparse
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
import mnist  # noqa: E402


class Net(nn.Module):
    """pytorch/examples mnist/main.py's Net."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.dropout2(x)
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


def normalise(pixels):
    """main.py's transforms: ToTensor (pixels in [0, 1]), then Normalize((0.1307,), (0.3081,))."""
    return (torch.from_numpy(pixels).reshape(-1, 1, 28, 28) - 0.1307) / 0.3081


parser = argparse.ArgumentParser()
parser.add_argument("--mnist", required=True)
parser.add_argument("--out", required=True)
parser.add_argument("--images", type=int, default=3000)
args = parser.parse_args()

torch.manual_seed(1)
torch.set_num_threads(1)
(x, y), _, (test_x, test_y) = mnist.load(args.mnist)
model = Net()
optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
model.train()
order = torch.randperm(args.images)
for start in range(0, args.images, 64):
    batch = order[start:start + 64].numpy()
    optimizer.zero_grad()
    loss = F.nll_loss(model(normalise(x[batch])), torch.from_numpy(y[batch]))
    loss.backward()
    optimizer.step()
model.eval()
with torch.no_grad():
    predicted = torch.cat([model(normalise(test_x[i:i + 1000])).argmax(1) for i in range(0, 10000, 1000)])
correct = int((predicted == torch.from_numpy(test_y)).sum())
pt = os.path.join(args.out, "mnist_cnn.pt")
torch.save(model.state_dict(), pt)
# The README's conversion: a state_dict's tensors, saved by safetensors.
save_file(torch.load(pt), os.path.join(args.out, "mnist_cnn.safetensors"))
print(json.dumps({"correct": correct, "predictions": predicted.tolist()}))
