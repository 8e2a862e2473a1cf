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

IID = ("gaussian", "laplace", "uniform", "lomax", "masking")
RADIAL = ("expinf", "exp1", "exp2", "uniformball")


def noise_of(family: str, dim: int) -> rs.Noise:
    if family == "masking":
        return rs.Masking(keep=0.5)
    cls = rs.NOISES[family]
    return cls(dim=dim, sigma=0.5) if family in RADIAL else cls(sigma=0.5)


def perturb_all(families, device) -> None:
    for shape in ((3, 3, 5, 7), (2, 1, 33, 33), (2, 1031)):
        x = torch.rand(*shape, device=device)
        dim = x[0].numel()
        for family in families:
            noise = noise_of(family, dim)
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
    parser.add_argument("--kernels", default="all", help="comma-separated: iid, radial, count, philox; or all")
    args = parser.parse_args(argv)
    kinds = {"iid", "radial", "count", "philox"} if args.kernels == "all" else set(args.kernels.split(","))
    device = torch.device("cuda")
    if "iid" in kinds:
        perturb_all(IID, device)
    if "radial" in kinds:
        perturb_all(RADIAL, device)
    if "count" in kinds:
        count_all(device)
    if "philox" in kinds:
        philox4x32_10(torch.randint(0, 2**32, (1001, 4), device=device), (1, 2))
    torch.cuda.synchronize()
    print(f"launched {sorted(kinds)} kernels")


if __name__ == "__main__":
    main()
