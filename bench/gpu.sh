#!/usr/bin/env bash
# The GPU checks in one command, for a machine with a GPU:
#
#   bench/gpu.sh [OUT_DIR]          (default artifacts/gpu)
#
# Trains nielsen.toml, two-layer-net.toml at batch 100 and at batch 1,000, best.toml, and the
# conv nets simple-convnet.toml and deep-convnet.toml (5 epochs) on flex and on each GPU backend (DIGITS_GPU_BACKENDS, default "cuda wgpu"), then writes
# OUT_DIR/REPORT.md: for each run, the median seconds per epoch of the training pass, the best
# test accuracy, and its difference from flex's (parity: same seed, same data order).
# DIGITS_GPU_CONFIGS narrows the list, e.g. "nielsen two-layer-net"; DIGITS_GPU_EPOCHS caps the
# epochs, for a quick look; DIGITS_GPU_FEATURES replaces the cargo features (default: the
# backends), to share a build that has more.
# MNIST comes from DIGITS_MNIST_DIR, else [data] dir, downloaded there when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

out="${1:-artifacts/gpu}"
backends="${DIGITS_GPU_BACKENDS:-cuda wgpu}"
only="${DIGITS_GPU_CONFIGS:-}"
epochs=()
if [ -n "${DIGITS_GPU_EPOCHS:-}" ]; then epochs=(--epochs "$DIGITS_GPU_EPOCHS"); fi

# name, config, extra train flags
runs=(
  "nielsen|configs/nielsen.toml|"
  "two-layer-net|configs/two-layer-net.toml|"
  "two-layer-net-b1000|configs/two-layer-net.toml|--batch-size 1000"
  "best|configs/best.toml|"
  # The convolutional chapters' rows that fit in lent GPU time (about 15 minutes with the
  # build): SimpleConvNet in full, DeepConvNet for 5 of its 20 epochs. network3's rows train at
  # batch 10, where a GPU waits on per-step overhead; `digits reproduce --only network3` runs
  # them on a machine with the hours.
  "simple-convnet|configs/simple-convnet.toml|"
  "deep-convnet-e5|configs/deep-convnet.toml|--epochs 5"
)

features="${DIGITS_GPU_FEATURES:-$(echo "$backends" | tr -s ' ' ',')}"
echo "gpu: building with --features $features"
cargo build --release --quiet --features "$features"
digits="${CARGO_TARGET_DIR:-target}/release/digits"
data=()
if [ -n "${DIGITS_MNIST_DIR:-}" ]; then data=(--data-dir "$DIGITS_MNIST_DIR"); fi

mkdir -p "$out"
report="$out/REPORT.md"
{
  echo "# GPU checks ($(date -u '+%Y-%m-%d %H:%M UTC'))"
  echo
  echo "Machine: $(nproc) CPU cores; $(command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1 || echo 'no nvidia-smi')."
  echo "Command: \`bench/gpu.sh $out\` (DIGITS_GPU_BACKENDS=\"$backends\"${DIGITS_GPU_EPOCHS:+, DIGITS_GPU_EPOCHS=$DIGITS_GPU_EPOCHS})."
  echo
  echo "| run | backend | s/epoch (median) | best test % | vs flex (points) |"
  echo "|---|---|---|---|---|"
} >"$report"

# The median of metrics.csv's `seconds` and the best `test_accuracy` (in percent) of a run.
summary() {
  local median best
  median="$(tail -n +2 "$1/metrics.csv" | cut -d, -f5 | sort -g |
    awk '{ s[NR] = $1 } END { printf "%.3f", (NR % 2) ? s[(NR + 1) / 2] : (s[NR / 2] + s[NR / 2 + 1]) / 2 }')"
  best="$(tail -n +2 "$1/metrics.csv" | cut -d, -f4 | sort -g | tail -1)"
  echo "$median $(awk -v b="$best" 'BEGIN { printf "%.2f", 100 * b }')"
}

failed=0
for entry in "${runs[@]}"; do
  IFS='|' read -r name config flags <<<"$entry"
  if [ -n "$only" ] && [[ " $only " != *" $name "* ]]; then continue; fi
  # DIGITS_GPU_EPOCHS caps every row, its own --epochs included.
  if [ ${#epochs[@]} -gt 0 ]; then flags="$(sed -E 's/--epochs [0-9]+//' <<<"$flags")"; fi
  flex_best=""
  for backend in flex $backends; do
    dir="$out/$name-$backend"
    echo "gpu: $name on $backend -> $dir"
    # shellcheck disable=SC2086 # flags is a list of words
    if ! "$digits" train --config "$config" $flags --backend "$backend" --out "$dir" --force \
      --quiet "${epochs[@]}" "${data[@]}" >"$dir.log" 2>&1; then
      echo "gpu: $name on $backend failed: $(tail -1 "$dir.log")"
      echo "| $name | $backend | failed: $(tail -1 "$dir.log") | | |" >>"$report"
      failed=1
      continue
    fi
    read -r seconds best < <(summary "$dir")
    if [ "$backend" = flex ]; then
      flex_best="$best"
      versus="—"
    else
      versus="$(awk -v a="$best" -v b="${flex_best:-nan}" 'BEGIN { printf "%+.2f", a - b }')"
    fi
    echo "| $name | $backend | $seconds | $best | $versus |" >>"$report"
  done
done
echo
cat "$report"
exit "$failed"
