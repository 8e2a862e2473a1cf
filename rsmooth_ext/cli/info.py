"""``rsmooth info``: what this installation can do and where it keeps its files: the extension's build
(CPU and CUDA kernels, CUDA archs, the torch it was built against), the CPU capabilities that decide
sampling speed (vector ISA, native bf16 / fp16 in oneDNN, threads), the visible GPUs, the torch, CUDA and
Python versions, the cache directory, and the forward-pass configurations ``--fast`` chose and cached."""

from __future__ import annotations

import argparse
import json
import platform

import torch

from .running import Log


def add_parser(sub) -> argparse.ArgumentParser:
    """Add the ``info`` subcommand to the argparse subparsers ``sub``."""
    p = sub.add_parser("info", help="the build, CPU capabilities, GPUs, versions and cache directory",
                       description="Print the extension's build, the CPU's capabilities that matter for speed, the "
                                   "visible GPUs, the torch / CUDA / Python versions and the cache directory.")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    return p


def _mkldnn_support(name: str) -> bool | None:
    """torch.ops.mkldnn's ``_is_mkldnn_<name>_supported()``; None where this torch does not have it."""
    check = getattr(torch.ops.mkldnn, f"_is_mkldnn_{name}_supported", None)
    if check is None:
        return None
    try:
        return bool(check())
    except RuntimeError:  # an op that exists in the namespace but was not compiled in
        return None


def gpus() -> list[dict]:
    """The visible CUDA devices: name, compute capability and memory."""
    if not torch.cuda.is_available():
        return []
    out = []
    for i in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(i)
        out.append({"index": i, "name": props.name, "capability": f"{props.major}.{props.minor}",
                    "memory_gib": round(props.total_memory / 2**30, 1)})
    return out


def collect() -> dict:
    """Everything ``rsmooth info`` reports, as one JSON-ready dict."""
    from .. import __version__, build_info
    from ..cache import cache_dir
    from ..sampling.tuning import cached_choices

    return {
        "rsmooth_ext": __version__,
        "build": build_info(),
        "cpu": {
            "capability": torch.backends.cpu.get_cpu_capability(),
            "bf16": _mkldnn_support("bf16"),
            "fp16": _mkldnn_support("fp16"),
            "threads": torch.get_num_threads(),
        },
        "gpus": gpus(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "cache_dir": cache_dir(),
        "fast_choices": cached_choices(),
    }


def _yes_no(value: bool | None) -> str:
    return "unknown (this torch cannot tell)" if value is None else ("yes" if value else "no")


def format_text(info: dict) -> str:
    """The human-readable report of ``collect()``."""
    build, cpu = info["build"], info["cpu"]
    kernels = ", ".join(k for k in ("cpu", "cuda") if build[k]) or "none"
    cuda_build = (f"CUDA {build['cuda_version']}, archs {build['cuda_archs']}" if build["cuda"]
                  else "no CUDA kernels")
    lines = [
        f"rsmooth_ext {info['rsmooth_ext']}",
        f"build:      kernels {kernels}; {cuda_build}; built against torch {build['torch_version_built']}",
        f"cpu:        {cpu['capability']}; native bf16 {_yes_no(cpu['bf16'])}, fp16 {_yes_no(cpu['fp16'])}; "
        f"{cpu['threads']} threads",
    ]
    if info["gpus"]:
        lines += [f"gpu {g['index']}:      {g['name']}, capability {g['capability']}, {g['memory_gib']:g} GiB"
                  for g in info["gpus"]]
    else:
        lines.append("gpus:       none")
    lines += [
        f"torch:      {info['torch']} (CUDA {info['cuda'] or 'none'})",
        f"python:     {info['python']}",
        f"cache:      {info['cache_dir']}",
    ]
    choices = info.get("fast_choices", [])
    lines.append(f"--fast:     {len(choices)} cached choice(s)" + (":" if choices else ""))
    for entry in choices:
        key, seconds = entry["key"], entry["seconds"]
        times = ", ".join(f"{name} {s * 1e3:.3g} ms" for name, s in sorted(seconds.items(), key=lambda t: t[1]))
        lines.append(f"  {entry['choice']} for {key.get('model', '?')} on {key.get('device', '?')} "
                     f"{tuple(key.get('input_shape', ()))} {key.get('dtype', '?')}, batch {key.get('batch_size', '?')} "
                     f"(torch {key.get('torch', '?')}; {key.get('hardware', '?')}): {times}")
    return "\n".join(lines)


def run(args: argparse.Namespace, log: Log) -> int:
    """Run ``rsmooth info``; 0 on success."""
    info = collect()
    log(json.dumps(info, indent=2) if args.json else format_text(info))
    return 0
