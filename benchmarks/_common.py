"""Shared helpers of the benchmark scripts (standalone scripts, not tests)."""

from __future__ import annotations

import json
import os
import platform

import torch
import torch.utils.benchmark as benchmark


def machine_info(device: str) -> dict:
    info = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "device": device,
    }
    if device.startswith("cuda"):
        info["device_name"] = torch.cuda.get_device_name()
        info["cuda"] = torch.version.cuda
    return info


def median_ms(stmt, min_run_time: float) -> float:
    """Median time of one call of ``stmt`` in milliseconds (torch.utils.benchmark, CUDA-synchronised)."""
    timer = benchmark.Timer(stmt="stmt()", globals={"stmt": stmt}, num_threads=torch.get_num_threads())
    return timer.blocked_autorange(min_run_time=min_run_time).median * 1e3


def write_json(path: str | None, rows: list[dict], info: dict) -> None:
    if not path:
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump({"machine": info, "rows": rows}, f, indent=2)
    print(f"wrote {path}")


def print_table(rows: list[dict], columns: list[str]) -> None:
    widths = [max(len(c), *(len(_fmt(r[c])) for r in rows)) for c in columns]
    print(" | ".join(c.ljust(w) for c, w in zip(columns, widths)))
    print("-|-".join("-" * w for w in widths))
    for r in rows:
        print(" | ".join(_fmt(r[c]).ljust(w) for c, w in zip(columns, widths)))


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v)


def cuda_event_ms(stmt, *, warmup: int = 3, repeats: int = 20) -> float:
    """Median device time of one call of ``stmt`` in milliseconds, from CUDA events recorded around each
    call on the current stream (kernel time: no host-side timer or launch gaps in between)."""
    for _ in range(warmup):
        stmt()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        stmt()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return sorted(times)[len(times) // 2]


def copy_bandwidth_gbps(num_bytes: int, device) -> float:
    """Bandwidth of a device-to-device copy of ``num_bytes`` (bytes read + bytes written per second, in
    GB/s), measured now with CUDA events: the ceiling a memory-bound kernel is compared with."""
    src = torch.empty(num_bytes, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    ms = cuda_event_ms(lambda: dst.copy_(src))
    return 2 * num_bytes / (ms * 1e-3) / 1e9
