"""Real clients read digits' exports and must agree with digits.

    python3 tests/interop/check.py --mnist DIR --reference PROBS.f32 --activation sigmoid \
        --output sigmoid [--onnx MODEL.onnx] [--safetensors MODEL.safetensors]

PROBS.f32 holds digits' probabilities for the 10,000 MNIST test images, float32 little-endian,
[10000, classes]. Each check runs a client over the same images and compares:
- `onnx`: ONNX Runtime runs the exported model, an MLP (`pixels` [N, 784]) or a convolutional
  network (`pixels` [N, 1, 28, 28], read off the model's input), and reads its metadata,
  `classes` (a JSON array of one name per column of `probabilities`) among it;
- `safetensors`: the safetensors library's numpy API reads the weights, and a numpy forward pass,
  written from docs/interop.md's table of names and shapes, computes the probabilities;
- `torch`: PyTorch loads the same file into `torch.nn.Linear` layers (skipped where torch is
  not installed).

Prints one JSON object: per check, the largest probability difference, whether every predicted
digit is the same, or why the check was skipped. Exits 1 when a check disagrees beyond 1e-5 or
predicts any digit differently, 2 when a required package is missing.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
import mnist  # noqa: E402  (bench/mnist.py: the IDX reader shared with the reference scripts)

TOLERANCE = 1e-5


def require(name):
    try:
        return __import__(name)
    except ImportError as e:
        print(f"error: Python package `{name}` is missing ({e}); see tests/interop/requirements.txt")
        sys.exit(2)


np = require("numpy")


def compare(name, ours, theirs):
    diff = float(np.abs(ours - theirs).max())
    same = bool((ours.argmax(1) == theirs.argmax(1)).all())
    mismatches = int((ours.argmax(1) != theirs.argmax(1)).sum())
    return {"check": name, "max_probability_difference": diff, "same_predictions": same,
            "mismatches": mismatches, "agrees": same and diff <= TOLERANCE}


def normalise(scores, output):
    """digits' probabilities from the last layer's output (inference::probabilities)."""
    if output == "logits":
        e = np.exp(scores - scores.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    return scores / scores.sum(axis=1, keepdims=True)


def numpy_forward(tensors, x, activation, output, epsilon=1e-5):
    """docs/interop.md's table: layers.{i}.weight [n_in, n_out], layers.{i}.bias [n_out], and for
    batch norm norms.{i}.gamma/beta/running_mean/running_var [n]."""
    count = sum(1 for k in tensors if k.startswith("layers.") and k.endswith(".weight"))
    for i in range(count):
        x = x @ tensors[f"layers.{i}.weight"] + tensors[f"layers.{i}.bias"]
        if i == count - 1:
            break
        if f"norms.{i}.gamma" in tensors:
            mean, var = tensors[f"norms.{i}.running_mean"], tensors[f"norms.{i}.running_var"]
            x = (x - mean) / np.sqrt(var + epsilon) * tensors[f"norms.{i}.gamma"] + tensors[f"norms.{i}.beta"]
        x = 1 / (1 + np.exp(-x)) if activation == "sigmoid" else np.maximum(x, 0)
    if output == "sigmoid":
        x = 1 / (1 + np.exp(-x))
    return normalise(x, output)


def check_onnx(path, images):
    """ONNX Runtime's probabilities, and what the model says of itself."""
    ort = require("onnxruntime")
    onnx_bytes = open(path, "rb").read()
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    shape = session.get_inputs()[0].shape
    pixels = images.reshape(-1, *shape[1:])  # [N, 784], or [N, 1, 28, 28] for a conv net
    probabilities, scores = session.run(["probabilities", "scores"], {"pixels": pixels})
    one, = session.run(["probabilities"], {"pixels": pixels[:1]})  # N is dynamic
    metadata = session.get_modelmeta().custom_metadata_map
    classes = json.loads(metadata.get("classes", "null"))
    about = {
        "input": [session.get_inputs()[0].name, shape],
        "outputs": [o.name for o in session.get_outputs()],
        "metadata": sorted(metadata),
        "test_accuracy": metadata.get("test_accuracy"),
        "classes": classes,
        "batch_of_one_agrees": bool(abs(one - probabilities[:1]).max() <= TOLERANCE),
        "scores_shape": list(scores.shape),
    }
    names_every_column = (isinstance(classes, list) and len(classes) == probabilities.shape[1]
                          and all(isinstance(c, str) for c in classes))
    complete = ({"config", "test_accuracy", "digits_version"} <= set(metadata)
                and names_every_column and about["batch_of_one_agrees"]
                and isinstance(shape[0], str))
    return probabilities, about, complete


def check_safetensors(path, images, activation, output):
    from safetensors.numpy import load_file
    tensors = load_file(path)
    return numpy_forward({k: v.astype(np.float64) for k, v in tensors.items()},
                         images.astype(np.float64), activation, output)


def check_torch(path, images, activation, output):
    try:
        import torch
    except ImportError:
        return None
    from safetensors.torch import load_file
    tensors = load_file(path)
    count = sum(1 for k in tensors if k.startswith("layers.") and k.endswith(".weight"))
    layers = []
    for i in range(count):
        weight = tensors[f"layers.{i}.weight"]
        linear = torch.nn.Linear(weight.shape[0], weight.shape[1])
        with torch.no_grad():
            linear.weight.copy_(weight.T)  # nn.Linear keeps [out, in]
            linear.bias.copy_(tensors[f"layers.{i}.bias"])
        layers.append(linear)
        if i == count - 1:
            break
        if f"norms.{i}.gamma" in tensors:
            norm = torch.nn.BatchNorm1d(weight.shape[1], eps=1e-5)
            with torch.no_grad():
                norm.weight.copy_(tensors[f"norms.{i}.gamma"])
                norm.bias.copy_(tensors[f"norms.{i}.beta"])
                norm.running_mean.copy_(tensors[f"norms.{i}.running_mean"])
                norm.running_var.copy_(tensors[f"norms.{i}.running_var"])
            layers.append(norm)
        layers.append(torch.nn.Sigmoid() if activation == "sigmoid" else torch.nn.ReLU())
    if output == "sigmoid":
        layers.append(torch.nn.Sigmoid())
    model = torch.nn.Sequential(*layers).eval()
    with torch.no_grad():
        scores = model(torch.from_numpy(images)).double().numpy()
    return normalise(scores, output)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mnist", required=True)
    parser.add_argument("--reference", required=True)
    parser.add_argument("--activation", choices=["sigmoid", "relu"], required=True)
    parser.add_argument("--output", choices=["sigmoid", "logits"], required=True)
    parser.add_argument("--onnx")
    parser.add_argument("--safetensors")
    args = parser.parse_args()

    _, _, (images, _) = mnist.load(args.mnist)
    ours = np.fromfile(args.reference, dtype="<f4").reshape(len(images), -1).astype(np.float64)
    results = []
    if args.onnx:
        probabilities, about, complete = check_onnx(args.onnx, images)
        result = compare("onnx", ours, probabilities)
        result.update(about)
        result["agrees"] = result["agrees"] and complete
        results.append(result)
    if args.safetensors:
        results.append(compare("safetensors", ours,
                               check_safetensors(args.safetensors, images, args.activation, args.output)))
        torch_result = check_torch(args.safetensors, images, args.activation, args.output)
        if torch_result is None:
            results.append({"check": "torch", "skipped": "PyTorch is not installed here"})
        else:
            results.append(compare("torch", ours, torch_result))
    print(json.dumps(results))
    sys.exit(0 if all(r.get("agrees", True) for r in results) else 1)


if __name__ == "__main__":
    main()
