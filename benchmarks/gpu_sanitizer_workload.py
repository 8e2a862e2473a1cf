"""A small workload that launches every rsmooth_ext CUDA kernel a few times, for compute-sanitizer
(memcheck, racecheck) in benchmarks/gpu_check.py. Not a test and not a benchmark: small shapes, odd sizes
(partial Philox blocks, rows that do not fill a CUDA block), every output dtype and layout.

    compute-sanitizer --tool memcheck python benchmarks/gpu_sanitizer_workload.py --kernels all
    compute-sanitizer --tool racecheck python benchmarks/gpu_sanitizer_workload.py --kernels radial,count
"""

from __future__ import annotations

import argparse

import torch

import rsmooth_ext as rs
from rsmooth_ext._ops import philox4x32_10


def families(radial: bool) -> list[type[rs.Noise]]:
    """The registered families whose kernel draws a per-sample radius (radial) or not (i.i.d.)."""
    return [cls for cls in rs.NOISES.values() if cls.radial == radial]


def perturb_all(specs: list[type[rs.Noise]], device) -> None:
    """Every example of each spec (rs.Noise.examples) on odd shapes, every output dtype and layout."""
    for shape in ((3, 3, 5, 7), (2, 1, 33, 33), (2, 1031)):
        x = torch.rand(*shape, device=device)
        dim = x[0].numel()
        for noise in (noise for cls in specs for noise in cls.examples(dim, sigma=0.5).values()):
            for dtype in (torch.float32, torch.float16, torch.bfloat16):
                for channels_last in ((False, True) if x.dim() == 4 else (False,)):
                    rs.perturb(x, noise, 5, seed=3, offset=7, out_dtype=dtype, channels_last=channels_last)


def count_all(device) -> None:
    for rows, classes in ((64, 10), (999, 3), (40, 1000)):
        for dtype in (torch.float32, torch.float16, torch.bfloat16, torch.float64):
            logits = torch.randn(rows, classes, device=device).to(dtype)
            logits[::7, 0] = float("nan")
            batch = 1 if rows % 2 else 2
            counts = torch.zeros(batch, classes, dtype=torch.int64, device=device)
            invalid = torch.zeros(batch, dtype=torch.int64, device=device)
            torch.ops.rsmooth_ext.argmax_count_.default(counts, invalid, logits)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kernels", default="all",
                        help="comma-separated: iid, radial, count, philox; or all (default all)")
    parser.add_argument("--device", default="cuda", help="where to launch (cpu: a smoke run) (default cuda)")
    args = parser.parse_args(argv)
    kinds = {"iid", "radial", "count", "philox"} if args.kernels == "all" else set(args.kernels.split(","))
    device = torch.device(args.device)
    if "iid" in kinds:
        perturb_all(families(radial=False), device)
    if "radial" in kinds:
        perturb_all(families(radial=True), device)
    if "count" in kinds:
        count_all(device)
    if "philox" in kinds:
        philox4x32_10(torch.randint(0, 2**32, (1001, 4), device=device), (1, 2))
    if device.type == "cuda":
        torch.cuda.synchronize()
    print(f"launched {sorted(kinds)} kernels")


if __name__ == "__main__":
    main()
