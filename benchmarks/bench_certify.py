"""Benchmark (not a test): end-to-end ``rsmooth_ext.certify`` of a batch of inputs vs a faithful
re-implementation of Cohen et al.'s per-input loop (locuslab/smoothing ``Smooth.certify``: for each
input, x.repeat + randn * sigma + model + argmax + .cpu() + counting in a Python loop), with the same
small CNN, inputs, n0, n and batch size, in the same run. A second fused row writes the noisy batches in
channels_last, which the fused op does at no extra cost (the CPU convolutions run faster on it).

    python benchmarks/bench_certify.py                       # CPU: 8 CIFAR-sized inputs, n = 10,000
    python benchmarks/bench_certify.py --device cuda --json benchmarks/results/certify_cuda.json
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _common import machine_info, print_table, write_json
from scipy.stats import beta, norm

import rsmooth_ext as rs


def small_cnn(num_classes: int = 10) -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, stride=2, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(16, 32, 3, stride=2, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(4), torch.nn.Flatten(), torch.nn.Linear(32 * 16, num_classes),
    )


class CohenSmooth:
    """Cohen et al.'s Smooth.certify, one input at a time (the reference code most repositories copy)."""

    def __init__(self, model, num_classes, sigma, device):
        self.model, self.num_classes, self.sigma, self.device = model, num_classes, sigma, device

    def certify(self, x, n0, n, alpha, batch_size):
        self.model.eval()
        counts_selection = self._sample_noise(x, n0, batch_size)
        c_a = counts_selection.argmax().item()
        counts_estimation = self._sample_noise(x, n, batch_size)
        n_a = counts_estimation[c_a].item()
        p_a = beta.ppf(alpha, n_a, n - n_a + 1) if n_a > 0 else 0.0
        if p_a < 0.5:
            return -1, 0.0
        return c_a, self.sigma * norm.ppf(p_a)

    def _sample_noise(self, x, num, batch_size):
        with torch.no_grad():
            counts = np.zeros(self.num_classes, dtype=int)
            remaining = num
            while remaining > 0:
                this_batch = min(batch_size, remaining)
                remaining -= this_batch
                batch = x.repeat((this_batch, 1, 1, 1))
                noise = torch.randn_like(batch, device=self.device) * self.sigma
                predictions = self.model(batch + noise).argmax(1)
                for idx in predictions.cpu().numpy():
                    counts[idx] += 1
            return counts


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--inputs", type=int, default=8)
    parser.add_argument("--n0", type=int, default=100)
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--sigma", type=float, default=0.25)
    parser.add_argument("--repeats", type=int, default=3, help="median of this many timed runs")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    torch.manual_seed(0)
    model = small_cnn().to(device).eval()
    x = torch.rand(args.inputs, 3, 32, 32, device=device)
    noise = rs.Gaussian(sigma=args.sigma)
    cohen = CohenSmooth(model, 10, args.sigma, device)

    def ours():
        rs.certify(model, x, noise, args.n0, args.n, 0.001, batch_size=args.batch_size, seed=0)

    def ours_channels_last():  # the fused op writes the noisy batch directly in channels_last
        rs.certify(model, x, noise, args.n0, args.n, 0.001, batch_size=args.batch_size, seed=0, channels_last=True)

    def theirs():
        for i in range(args.inputs):
            cohen.certify(x[i], args.n0, args.n, 0.001, args.batch_size)

    times = {}
    for name, run in (("fused", ours), ("fused_channels_last", ours_channels_last), ("reference", theirs)):
        run()  # warm-up
        samples = []
        for _ in range(args.repeats):
            sync(device)
            start = time.perf_counter()
            run()
            sync(device)
            samples.append(time.perf_counter() - start)
        times[name] = float(np.median(samples)) * 1e3
    row = {
        "benchmark": "certify",
        "inputs": args.inputs,
        "n0": args.n0,
        "n": args.n,
        "batch_size": args.batch_size,
        "device": str(device),
        "fused_ms": times["fused"],
        "reference_ms": times["reference"],
        "speedup": times["reference"] / times["fused"],
        "fused_channels_last_ms": times["fused_channels_last"],
        "speedup_channels_last": times["reference"] / times["fused_channels_last"],
    }
    info = machine_info(str(device))
    print(info)
    print_table([row], list(row))
    write_json(args.json, [row], info)


if __name__ == "__main__":
    main()
