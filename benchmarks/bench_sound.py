"""Benchmark (not a test): the sound Gaussian's fused perturb vs the plain fused Gaussian's, and vs the sampler
of Voracek & Hein ("Sound Randomized Smoothing in Floating-Point Arithmetic", ICLR 2023) reimplemented in
PyTorch: one full-tensor comparison of 64-bit random words per grid value of the discretised law.

For each shape (B, C, H, W) it draws one noisy copy of each of B on-grid inputs (sigma = 0.25, G = 255,
clip = 1) into a reused buffer, the way the sampling loop of ``certify`` does:

* gaussian: ``rs.Gaussian`` through the fused kernel (float noise, not sound);
* sound: ``rs.SoundGaussian`` through the fused kernel (x already checked to lie on the grid, as the sampling
  loop checks once per call); sound_checked adds that per-call grid check (what ``rs.perturb`` does);
* paper: the per-grid-value comparisons, over the same support as our table (2 M = 1020 thresholds; their
  own code covers about 1,800 values at sigma = 0.5), timed once (it is slow).

    python benchmarks/bench_sound.py --json benchmarks/results/sound_cpu.json
"""

from __future__ import annotations

import argparse
import time

import torch
from _common import machine_info, median_ms, print_table, write_json

import rsmooth_ext as rs
from rsmooth_ext import grid
from rsmooth_ext._ops import launch_perturb

SHAPES = {"cifar": (1000, 3, 32, 32), "imagenet": (16, 3, 224, 224)}
HALF64 = 1 << 63


def paper_sampler(spec: rs.SoundGaussian):
    """The comparison sampler: T' = the 2 M + 1 signed thresholds of the full discretised CDF (as int64, less
    2^63), delta = #{T' <= u} - M for a uniform 64-bit u, one pass over the tensor per threshold."""
    values = spec.thresholds().values
    m = len(values)
    # F at the half-grid points -M-1/2 .. M-1/2 (by symmetry from the stored ones) then M+1/2 .. : 2M thresholds
    full = [2**64 - v for v in reversed(values)] + list(values)
    signed = [v - HALF64 for v in full]

    def sample(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        u = torch.randint(-HALF64, HALF64 - 1, x.shape, generator=generator, dtype=torch.int64)
        count = torch.zeros(x.shape, dtype=torch.int32)
        for t in signed:
            count += u >= t
        index = grid.grid_indices(x, spec.grid) + count - m
        return grid.grid_values(index.clamp(-spec.clip_steps, spec.grid + spec.clip_steps), spec.grid, x.dtype)

    return sample, len(signed)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--sigma", type=float, default=0.25)
    parser.add_argument("--min-run-time", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    plain, sound = rs.Gaussian(sigma=args.sigma), rs.SoundGaussian(sigma=args.sigma)
    sampler, passes = paper_sampler(sound)
    rows = []
    for name in args.shapes:
        shape = SHAPES[name]
        g = torch.Generator().manual_seed(0)
        x = grid.grid_values(torch.randint(0, 256, shape, generator=g), 255, torch.float32)
        out = torch.empty_like(x)
        # interleaved, several rounds, the best median of each: the machine is shared
        plain_ms = sound_ms = checked_ms = float("inf")
        for _ in range(3):
            plain_ms = min(plain_ms, median_ms(
                lambda x=x, out=out: launch_perturb(x, plain, 1, 1, 0, 0, None, None, False, out), args.min_run_time))
            sound_ms = min(sound_ms, median_ms(
                lambda x=x, out=out: launch_perturb(x, sound, 1, 1, 0, 0, None, None, False, out), args.min_run_time))
            checked_ms = min(checked_ms, median_ms(lambda x=x, out=out: rs.perturb(x, sound, 1, seed=1, out=out),
                                                   args.min_run_time))
        start = time.perf_counter()
        sampler(x, g)
        paper_ms = (time.perf_counter() - start) * 1e3
        rows.append({"shape": "x".join(map(str, shape)), "elements": x.numel(), "gaussian_ms": plain_ms,
                     "sound_ms": sound_ms, "sound_checked_ms": checked_ms, "paper_ms": paper_ms,
                     "paper_passes": passes, "sound_over_gaussian": sound_ms / plain_ms,
                     "sound_checked_over_gaussian": checked_ms / plain_ms, "paper_over_sound": paper_ms / sound_ms})
    print_table(rows, ["shape", "gaussian_ms", "sound_ms", "sound_checked_ms", "paper_ms", "sound_over_gaussian",
                       "sound_checked_over_gaussian", "paper_over_sound"])
    info = machine_info("cpu") | {"cpu_capability": torch.backends.cpu.get_cpu_capability(), "sigma": args.sigma}
    write_json(args.json, rows, info)


if __name__ == "__main__":
    main()
