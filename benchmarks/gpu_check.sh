#!/usr/bin/env bash
# GPU check, for a machine with an NVIDIA GPU: build with CUDA kernels, run the whole test suite
# (CUDA tests included: CPU-vs-CUDA agreement for the same seeds), then the benchmarks on the GPU.
# Writes everything under benchmarks/results/gpu-<date>/ (device name, torch and CUDA versions, every
# measured ratio). Usage: bash benchmarks/gpu_check.sh [python3]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-python3}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=benchmarks/results/gpu-$stamp
mkdir -p "$out"
export CUDA_HOME=${CUDA_HOME:-$(dirname "$(dirname "$(command -v nvcc)")")}
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-"$($PY -c 'import torch; m, n = torch.cuda.get_device_capability(); print(f"{m}.{n}")')"}
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
  $PY -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name())'
} | tee "$out/device.txt"
FORCE_CUDA=1 $PY -m pip install --no-build-isolation --no-deps -v . > "$out/build.log" 2>&1 || { tail -50 "$out/build.log"; exit 1; }
(cd /tmp && $PY -c 'import rsmooth_ext, json; i = rsmooth_ext.build_info(); print(json.dumps(i)); assert i["cuda"]') | tee "$out/build_info.json"
$PY -m pytest -q tests 2>&1 | tee "$out/pytest.txt"
$PY benchmarks/bench_sampling.py --device cuda --min-run-time 0.5 --json "$out/sampling_cuda.json" | tee "$out/sampling_cuda.txt"
$PY benchmarks/bench_sampling.py --device cpu --min-run-time 0.5 --json "$out/sampling_cpu.json" | tee "$out/sampling_cpu.txt"
for extra in benchmarks/bench_certify.py; do
  if [ -f "$extra" ]; then
    name=$(basename "$extra" .py)
    $PY "$extra" --device cuda --json "$out/${name}_cuda.json" | tee "$out/${name}_cuda.txt"
  fi
done
echo "results in $out"
