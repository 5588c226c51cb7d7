#!/usr/bin/env bash
# A newcomer's first build, measured: the README's two Quick start commands on a fresh clone
# with an empty target folder (the crates already downloaded, as after one `cargo fetch`).
#
#   bench/cold-build.sh [REV] [OUT_DIR]
#
# 1. `cargo run --release -- train --config configs/nielsen.toml`, from start to its first
#    epoch line (with --epochs 1, so it stops there);
# 2. `cargo test --release` after it, to the moment the tests start (`--no-run`);
# 3. then `cargo build --release` and `cargo build --release --examples`, which must compile
#    nothing, because the first two built every dependency the same way.
# OUT_DIR (default: a new temporary folder) gets REPORT.md and cargo's --timings pages, whose
# per-crate breakdown says where the minutes went.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
rev=${1:-HEAD}
out="${2:-$(mktemp -d)}"
mkdir -p "$out" && out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

git clone -q "$repo" "$work/digits"
git -C "$work/digits" checkout -q "$rev"
export CARGO_TARGET_DIR="$work/target"
export DIGITS_MNIST_DIR="${DIGITS_MNIST_DIR:-$(cd "$repo/.." && pwd)/shared/data/mnist}"
cd "$work/digits"
cargo fetch -q

started=$SECONDS
cargo run --release --timings -- train --config configs/nielsen.toml --epochs 1 --out "$work/run" \
  --data-dir "$DIGITS_MNIST_DIR" \
  2>"$out/first.log" | tee -a "$out/first.log"
first=$((SECONDS - started))
cp "$(ls -t "$CARGO_TARGET_DIR"/cargo-timings/*.html | head -1)" "$out/first-timings.html"

started=$SECONDS
cargo test --release --timings --no-run 2>"$out/second.log"
second=$((SECONDS - started))
cp "$(ls -t "$CARGO_TARGET_DIR"/cargo-timings/*.html | head -1)" "$out/second-timings.html"

# Cargo prints "Compiling <crate>" for each crate it builds; after the two commands there must be none.
recompiled() { { "$@" 2>&1 | grep -E '^\s+Compiling' || true; } | sed 's/^ *Compiling //' | tr '\n' ' '; }
build_again=$(recompiled cargo build --release)
examples_again=$(recompiled cargo build --release --examples)

{
  echo "# Cold build of $(git rev-parse --short HEAD) on $(nproc) cores, $(date -u +%F)"
  echo
  echo "| step | seconds |"
  echo "|---|---|"
  echo "| \`cargo run --release -- train --config configs/nielsen.toml\` to the first epoch line | $first |"
  echo "| \`cargo test --release\` after it, to the first test | $second |"
  echo
  echo "Compiled again by \`cargo build --release\`: ${build_again:-nothing}"
  echo
  echo "Compiled again by \`cargo build --release --examples\`: ${examples_again:-nothing}"
  echo
  echo "Crates compiled: first $(grep -cE '^\s+Compiling' "$out/first.log"), second $(grep -cE '^\s+Compiling' "$out/second.log")"
} | tee "$out/REPORT.md"
