"""Benchmark (not a test): fused ``rsmooth_ext.perturb`` vs the pure-PyTorch sampling path.

For every registered noise family (the examples its spec declares) and shape (N, C, H, W) it times drawing N
noisy copies of one input:
fused = one pass of our kernel into a new tensor; fused_out = the same into a reused buffer (``out=``,
what the sampling loop of ``certify`` does); reference = ``rsmooth_ext.reference.perturb_reference`` (repeat, torch
samplers, add, cast: what a PyTorch user writes). Same inputs, same run, same device.

    python benchmarks/bench_sampling.py                      # CPU
    python benchmarks/bench_sampling.py --device cuda --dtypes float32 bfloat16 --layouts contiguous channels_last

On CUDA each row also has the kernel-only time (CUDA events around the op into the reused buffer), the bytes
it moves (output written + input read) and that bandwidth as a fraction of a device-to-device copy's,
measured in the same run.
"""

from __future__ import annotations

import argparse
import itertools
import math

import torch
from _common import copy_bandwidth_gbps, cuda_event_ms, machine_info, median_ms, print_table, write_json

import rsmooth_ext as rs
from rsmooth_ext.reference import perturb_reference

DEFAULT_SHAPES = ["1000x3x32x32", "100x3x224x224", "64x3x224x224"]


def noise_rows(dim: int, sigma: float) -> dict[str, rs.Noise]:
    """Every example of every registered family (rs.NOISES), keyed by its row name (``family`` or
    ``family_variant``): each family's first example, then the other variants."""
    rows, variants = {}, {}
    for cls in rs.NOISES.values():
        for i, (name, noise) in enumerate(cls.examples(dim, sigma).items()):
            (rows if i == 0 else variants)[name] = noise
    return rows | variants


def one_per_kind(names: list[str]) -> list[str]:
    """The first i.i.d. and the first radial row of ``names`` (a quick run that still reaches both kernels)."""
    rows = noise_rows(16, 0.25)
    kinds: dict[bool, str] = {}
    for name in names:
        kinds.setdefault(rows[name].radial, name)
    return list(kinds.values())


ROWS = list(noise_rows(16, 0.25))  # the row names (every example's); the specs are rebuilt per shape


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtypes", nargs="+", default=["float32"], choices=["float32", "float16", "bfloat16"],
                        help="output dtypes (x is float32)")
    parser.add_argument("--layouts", nargs="+", default=["contiguous"], choices=["contiguous", "channels_last"])
    parser.add_argument("--shapes", nargs="+", default=DEFAULT_SHAPES, help="N x C x H x W (N noisy copies)")
    parser.add_argument("--families", nargs="+", default=ROWS, choices=ROWS, metavar="ROW",
                        help=f"rows to run: every registered family's examples (default all: {' '.join(ROWS)})")
    parser.add_argument("--one-per-kind", action="store_true",
                        help="only the first i.i.d. and the first radial row of --families (default off)")
    parser.add_argument("--sigma", type=float, default=0.25)
    parser.add_argument("--min-run-time", type=float, default=1.0, help="seconds per measurement")
    parser.add_argument("--json", default=None, help="write the rows to this JSON file")
    args = parser.parse_args(argv)
    families = one_per_kind(args.families) if args.one_per_kind else args.families

    device = torch.device(args.device)
    generator = torch.Generator(device=device).manual_seed(0)
    rows = []
    columns = ["family", "shape", "dtype", "layout", "fused_ms", "fused_out_ms", "reference_ms", "speedup",
               "speedup_out"]
    if device.type == "cuda":
        columns += ["kernel_ms", "GBps", "copy_fraction"]
    for shape_text in args.shapes:
        n, *shape = (int(s) for s in shape_text.split("x"))
        x = torch.rand(1, *shape, device=device)
        dim = math.prod(shape)
        for dtype_name, layout in itertools.product(args.dtypes, args.layouts):
            dtype = getattr(torch, dtype_name)
            channels_last = layout == "channels_last"
            if channels_last and len(shape) != 3:
                continue
            fmt = torch.channels_last if channels_last else torch.contiguous_format
            buffer = torch.empty((n, *shape), device=device, dtype=dtype).contiguous(memory_format=fmt)
            out_bytes = buffer.numel() * buffer.element_size()
            copy_gbps = copy_bandwidth_gbps(out_bytes, device) if device.type == "cuda" else None
            noises = noise_rows(dim, args.sigma)
            for family in families:
                noise = noises[family]

                def fused(x=x, noise=noise, n=n, dtype=dtype, channels_last=channels_last):
                    return rs.perturb(x, noise, n, seed=1, out_dtype=dtype, channels_last=channels_last)

                def fused_out(x=x, noise=noise, n=n, buffer=buffer, channels_last=channels_last):
                    return rs.perturb(x, noise, n, seed=1, out=buffer, channels_last=channels_last)

                def reference(x=x, noise=noise, n=n, dtype=dtype, fmt=fmt):
                    return perturb_reference(x, noise, n, generator=generator, out_dtype=dtype).contiguous(
                        memory_format=fmt)

                fused_ms = median_ms(fused, args.min_run_time)
                fused_out_ms = median_ms(fused_out, args.min_run_time)
                reference_ms = median_ms(reference, args.min_run_time)
                row = {
                    "family": family, "shape": shape_text, "device": str(device), "dtype": dtype_name,
                    "layout": layout, "fused_ms": fused_ms, "reference_ms": reference_ms,
                    "speedup": reference_ms / fused_ms, "fused_out_ms": fused_out_ms,
                    "speedup_out": reference_ms / fused_out_ms,
                }
                if device.type == "cuda":
                    # kernel-only: the op into the reused buffer, timed with CUDA events; bytes moved = the
                    # output written + the input read once; compared with a device-to-device copy's bandwidth
                    kernel_ms = cuda_event_ms(fused_out)
                    moved = out_bytes + x.numel() * 4
                    gbps = moved / (kernel_ms * 1e-3) / 1e9
                    row.update(kernel_ms=kernel_ms, bytes_moved=moved, GBps=gbps, copy_GBps=copy_gbps,
                               copy_fraction=gbps / copy_gbps)
                rows.append(row)
                print_table(rows[-1:], columns)
            del buffer
    info = machine_info(str(device))
    print(f"\n{info}")
    print_table(rows, columns)
    write_json(args.json, rows, info)


if __name__ == "__main__":
    main()
