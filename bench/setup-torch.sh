#!/usr/bin/env bash
# PyTorch 2.9.0 in a virtual environment outside the clone, for the `tch` backend: burn-tch 0.22
# (torch-sys 0.22) builds against LibTorch 2.9.0 exactly, and its build refuses even 2.9.1.
# PyPI's Linux wheel brings CUDA's libraries with it, about 7 GB in all; run this once, by hand.
# Then a build is:
#   PATH="$HOME/.cache/digits-torch/bin:$PATH" LIBTORCH_USE_PYTORCH=1 cargo build --release --features tch
set -euo pipefail
venv="${DIGITS_TORCH_VENV:-$HOME/.cache/digits-torch}"
if ! "$venv/bin/python3" -c 'import torch, sys; sys.exit(not torch.__version__.startswith("2.9.0"))' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "torch==2.9.0"
fi
"$venv/bin/python3" -c 'import torch; print("PyTorch", torch.__version__, "in", torch.__path__[0])'
