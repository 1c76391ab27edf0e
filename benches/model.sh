#!/usr/bin/env bash
# The model-based test of the window's control rules (tests/integration/model.rs) over many
# more random windows than the test suite runs: N windows (default 20000) from seed S
# (default 1), in release. Prints how many ran; a broken rule fails with its seed, so
# `PATCHDECK_MODEL_SEED=<seed> PATCHDECK_MODEL_CASES=1 cargo test --test integration model::`
# replays it.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
S=${2:-1}
start=$(date +%s)
PATCHDECK_MODEL_CASES=$N PATCHDECK_MODEL_SEED=$S \
  cargo test --release --locked --test integration -- model::random_windows --nocapture 2>&1 | grep -E "^model:|panicked|test result"
echo "model.sh: $N windows from seed $S in $(( $(date +%s) - start ))s"
