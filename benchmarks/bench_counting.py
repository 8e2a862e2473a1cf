"""Benchmark (not a test): the fused ``argmax_count_`` op vs the PyTorch path (``argmax`` + per-input
``bincount``, what a PyTorch user writes; Cohen et al. count on the host in a Python loop, slower still),
on logits (B * n, K): the counting step of every certify batch. Same logits, same run. On CUDA the op is
also timed alone with CUDA events (kernel time, no launch overhead of the Python timer).

    python benchmarks/bench_counting.py                       # CPU
    python benchmarks/bench_counting.py --device cuda --json counting_cuda.json
"""

from __future__ import annotations

import argparse

import torch
from _common import cuda_event_ms, machine_info, median_ms, print_table, write_json

import rsmooth_ext  # noqa: F401  (registers the ops)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rows", type=int, nargs="+", default=[1000, 100000], help="B * n rows of logits")
    parser.add_argument("--classes", type=int, nargs="+", default=[10, 1000])
    parser.add_argument("--inputs", type=int, default=1, help="B: the rows are split evenly over B inputs")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    parser.add_argument("--min-run-time", type=float, default=0.5)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    op = torch.ops.rsmooth_ext.argmax_count_.default
    rows_out = []
    for rows in args.rows:
        for classes in args.classes:
            logits = torch.randn(rows, classes, device=device).to(getattr(torch, args.dtype))
            batch = args.inputs
            counts = torch.zeros(batch, classes, dtype=torch.int64, device=device)
            invalid = torch.zeros(batch, dtype=torch.int64, device=device)

            def fused(counts=counts, invalid=invalid, logits=logits):
                op(counts, invalid, logits)

            def reference(logits=logits, batch=batch, classes=classes):
                votes = logits.argmax(1).view(batch, -1)
                return torch.stack([torch.bincount(v, minlength=classes) for v in votes])

            counts.zero_()
            fused()
            assert torch.equal(counts, reference()), "argmax_count_ disagrees with argmax + bincount"
            fused_ms = median_ms(fused, args.min_run_time)
            reference_ms = median_ms(reference, args.min_run_time)
            row = {"rows": rows, "classes": classes, "inputs": batch, "dtype": args.dtype, "device": str(device),
                   "fused_ms": fused_ms, "reference_ms": reference_ms, "speedup": reference_ms / fused_ms}
            if device.type == "cuda":
                kernel_ms = cuda_event_ms(fused)
                row["kernel_ms"] = kernel_ms
                row["logits_GBps"] = logits.numel() * logits.element_size() / (kernel_ms * 1e-3) / 1e9
            rows_out.append(row)
    info = machine_info(str(device))
    print(info)
    columns = ["rows", "classes", "dtype", "fused_ms", "reference_ms", "speedup"]
    if device.type == "cuda":
        columns += ["kernel_ms", "logits_GBps"]
    print_table(rows_out, columns)
    write_json(args.json, rows_out, info)


if __name__ == "__main__":
    main()
