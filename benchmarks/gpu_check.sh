#!/usr/bin/env bash
# The GPU check (see benchmarks/gpu_check.py): build, CUDA tests, compute-sanitizer and CUDA benchmarks in
# one call, one summary under $OUT (else benchmarks/results/gpu-<date>/). --dry-run (automatic without a
# GPU) runs the steps that need none. Usage: bash benchmarks/gpu_check.sh [--dry-run] [--python PY] [...]
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
exec "$PY" benchmarks/gpu_check.py --python "$PY" "$@"
