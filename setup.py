"""Build rsmooth_ext._C: CPU kernels always, CUDA kernels when torch is a CUDA build, nvcc is found
and (a GPU is visible or FORCE_CUDA=1). RSMOOTH_FORCE_CPU=1 turns CUDA off.

Environment: FORCE_CUDA, RSMOOTH_FORCE_CPU, TORCH_CUDA_ARCH_LIST (default "8.0;9.0+PTX": sm_80 and
sm_90 binaries plus PTX for newer GPUs), DEBUG=1 (-O0 -g), NVCC_FLAGS (extra nvcc flags), MAX_JOBS.
"""

import glob
import os
import shutil
import subprocess
import tempfile

from setuptools import setup

ROOT = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CUDA_ARCHS = "8.0;9.0+PTX"


def _flag(name):
    return os.environ.get(name, "0").strip().lower() in ("1", "true", "yes", "on")


def _locate_cuda_home():
    """Ask nvcc where its toolkit is (its TOP), unless CUDA_HOME / CUDA_PATH is set: torch's guess from the
    nvcc on PATH is wrong when that nvcc is a wrapper script outside the toolkit."""
    if os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH") or shutil.which("nvcc") is None:
        return
    with tempfile.TemporaryDirectory() as tmp:
        probe = os.path.join(tmp, "probe.cu")
        open(probe, "w").close()
        try:
            dry = subprocess.run(["nvcc", "--dryrun", "-c", probe], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            return
    for line in (dry.stdout + dry.stderr).splitlines():
        if line.startswith("#$ TOP="):
            top = os.path.realpath(line.split("=", 1)[1].strip())
            if os.path.exists(os.path.join(top, "include", "cuda_runtime.h")):
                os.environ["CUDA_HOME"] = top
            return


def _extensions():
    import torch

    _locate_cuda_home()
    from torch.utils.cpp_extension import CUDA_HOME, CppExtension, CUDAExtension

    force_cpu = _flag("RSMOOTH_FORCE_CPU")
    force_cuda = _flag("FORCE_CUDA")
    use_cuda = (
        not force_cpu
        and torch.version.cuda is not None
        and CUDA_HOME is not None
        and (torch.cuda.is_available() or force_cuda)
    )
    debug = _flag("DEBUG")
    archs = os.environ.get("TORCH_CUDA_ARCH_LIST") or DEFAULT_CUDA_ARCHS
    if use_cuda:
        os.environ["TORCH_CUDA_ARCH_LIST"] = archs
    print(
        f"rsmooth_ext build: torch={torch.__version__} torch.version.cuda={torch.version.cuda} "
        f"CUDA_HOME={CUDA_HOME} FORCE_CUDA={force_cuda} RSMOOTH_FORCE_CPU={force_cpu} "
        f"use_cuda={use_cuda} archs={archs if use_cuda else '-'} debug={debug}"
    )

    opt = ["-O0", "-g"] if debug else ["-O3"]
    # Python's CFLAGS carry -fwrapv, which stops GCC from vectorising the strided loops of the CPU kernels.
    # -ffp-contract=off: the same float results from every instruction-set variant of the CPU kernels
    # (and, with nvcc's --fmad=false, from the CUDA kernels' float32 arithmetic).
    # -fno-trapping-math: selects between computed values may be if-converted (we never read FP flags).
    cxx = opt + ["-std=c++20", "-fno-math-errno", "-fno-wrapv", "-ffp-contract=off", "-fno-trapping-math"]
    parallel = torch.__config__.parallel_info()
    if "OpenMP" in parallel and "ATen parallel backend: OpenMP" in parallel:
        cxx += ["-fopenmp"]
    torch_version = torch.__version__.split("+")[0]
    macros = [("RSMOOTH_TORCH_VERSION", f'"{torch_version}"')]
    sources = [os.path.relpath(p, ROOT) for p in ["csrc/ops.cpp", *sorted(glob.glob("csrc/cpu/*.cpp"))]]
    extra = {"cxx": cxx}
    if use_cuda:
        sources += sorted(glob.glob("csrc/cuda/*.cu"))
        macros += [
            ("RSMOOTH_WITH_CUDA", None),
            ("RSMOOTH_CUDA_ARCHS", '"' + archs.replace(';', ' ') + '"'),
            ("RSMOOTH_CUDA_VERSION", f'"{torch.version.cuda}"'),
        ]
        # --fmad=false: like the CPU build (-ffp-contract=off), contract nothing beyond the explicit fmaf calls
        extra["nvcc"] = opt + ["-std=c++20", "-lineinfo", "--fmad=false"] + os.environ.get("NVCC_FLAGS", "").split()
        ext = CUDAExtension("rsmooth_ext._C", sources, define_macros=macros, extra_compile_args=extra,
                            extra_link_args=["-fopenmp"] if "-fopenmp" in cxx else [])
    else:
        ext = CppExtension("rsmooth_ext._C", sources, define_macros=macros, extra_compile_args=extra,
                           extra_link_args=["-fopenmp"] if "-fopenmp" in cxx else [])
    return [ext]


def _build_ext():
    from torch.utils.cpp_extension import BuildExtension

    return BuildExtension.with_options(use_ninja=True)


setup(
    ext_modules=_extensions(),
    cmdclass={"build_ext": _build_ext()},
)
