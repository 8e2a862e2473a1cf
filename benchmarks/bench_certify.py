"""Benchmark (not a test): end-to-end ``rsmooth_ext.certify`` of a batch of inputs vs a faithful
re-implementation of Cohen et al.'s per-input loop (locuslab/smoothing ``Smooth.certify``: for each
input, x.repeat + randn * sigma + model + argmax + .cpu() + counting in a Python loop), with the same
small CNN, inputs, n0, n and batch size, in the same run.

One row per way of running the model: eager; channels_last (the fused op writes the noisy batch in that
layout at no cost); autocast bf16 (the noisy batch written in bf16, the model under torch.autocast);
compile (the whole per-batch step as one fixed-shape graph; CUDA graphs on CUDA); fast (what ``fast=True`` /
``rsmooth certify --fast`` chooses by measurement, ``rsmooth_ext.sampling.tuning``; tuned before the
timing). Each row also times the model alone -- the same forward passes (same batch shapes, dtype, layout,
compiled the same way) on a ready-made batch, no noise and no counting -- so ``over_model`` says how close the
row is to the model-bound ceiling (1.00 = nothing but forward passes). Each row also compares its predictions and radii
with the Cohen loop's (other noise draws, so radii differ by Monte Carlo error). Compilation happens in a
warm-up run, not timed; the rows take turns and each reports its fastest run (see ``round_robin_ms``).

    python benchmarks/bench_certify.py                       # CPU: 8 CIFAR-sized inputs, n = 10,000
    python benchmarks/bench_certify.py --device cuda --json benchmarks/results/certify_cuda.json
"""

from __future__ import annotations

import argparse
import contextlib
import time

import numpy as np
import torch
from _common import machine_info, print_table, write_json
from scipy.stats import beta, norm

import rsmooth_ext as rs
from rsmooth_ext.sampling.forward import compile_options
from rsmooth_ext.sampling.tuning import native_autocast_dtypes, tune


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


def batch_rows(inputs: int, n: int, batch_size: int) -> list[int]:
    """Rows of every forward pass of n samples per input (the sampler's batch plan, fixed-shape)."""
    per_batch = batch_size // n
    if per_batch >= 1:
        fixed = min(per_batch, inputs) * n
        return [fixed] * -(-inputs // per_batch)
    return [min(batch_size, n)] * (inputs * -(-n // batch_size))


def model_alone(model, x, options: dict, rows: list[int], device):
    """A function running the forward passes of ``rows`` the way ``certify(**options)`` runs the model."""
    dtype = options.get("autocast") or x.dtype
    fmt = torch.channels_last if options.get("channels_last") else torch.contiguous_format
    batches = {r: torch.rand(r, *x.shape[1:], device=device).to(dtype).contiguous(memory_format=fmt) for r in rows}
    compile_kwargs = compile_options(options.get("compile", False), device)
    forward = model if compile_kwargs is None else torch.compile(model, **compile_kwargs)
    autocast = options.get("autocast")
    cudagraphs = compile_kwargs is not None and compile_kwargs.get("mode") == "reduce-overhead"

    def run():
        context = torch.autocast(device.type, dtype=autocast) if autocast else contextlib.nullcontext()
        with torch.inference_mode(), context:
            for r in rows:
                if cudagraphs:
                    torch.compiler.cudagraph_mark_step_begin()
                forward(batches[r])

    return run


def time_once_ms(run, device) -> float:
    sync(device)
    start = time.perf_counter()
    run()
    sync(device)
    return (time.perf_counter() - start) * 1e3


def round_robin_ms(runs: dict, device, repeats: int) -> dict:
    """The fastest of ``repeats`` timed runs of every function, after one warm-up run each (which compiles).
    The functions take turns, so a burst of load from other processes hits every row alike, and the minimum
    is the run least disturbed by them (the machine is shared)."""
    for run in runs.values():
        run()
    samples = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            samples[name].append(time_once_ms(run, device))
    return {name: min(values) for name, values in samples.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--inputs", type=int, default=8)
    parser.add_argument("--n0", type=int, default=100)
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--sigma", type=float, default=0.25)
    parser.add_argument("--repeats", type=int, default=5, help="the fastest of this many timed runs")
    parser.add_argument("--rows", nargs="+", default=None, help="only these rows (default: all)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    torch.manual_seed(0)
    model = small_cnn().to(device).eval()
    x = torch.rand(args.inputs, 3, 32, 32, device=device)
    noise = rs.Gaussian(sigma=args.sigma)
    cohen = CohenSmooth(model, 10, args.sigma, device)
    native = native_autocast_dtypes(device)
    low = native[0] if native else torch.bfloat16  # measured even where not native, to show what it costs
    choice = tune(model, x, noise, batch_size=args.batch_size)
    print(choice.summary())
    configurations = {
        "eager": {},
        "channels_last": {"channels_last": True},
        f"autocast_{str(low).removeprefix('torch.')}": {"autocast": low},
        "compile": {"compile": True},
        "fast": choice.candidate.options(),
    }
    if args.rows:
        configurations = {k: v for k, v in configurations.items() if k in args.rows}
    rows_of_passes = (batch_rows(args.inputs, args.n0, args.batch_size)
                      + batch_rows(args.inputs, args.n, args.batch_size))

    def theirs():
        for i in range(args.inputs):
            cohen.certify(x[i], args.n0, args.n, 0.001, args.batch_size)

    runs = {"cohen": theirs}
    for name, options in configurations.items():
        def ours(options=options):
            rs.certify(model, x, noise, args.n0, args.n, 0.001, batch_size=args.batch_size, seed=0, **options)

        runs[name] = ours
        runs[f"{name}/model"] = model_alone(model, x, options, rows_of_passes, device)
    times = round_robin_ms(runs, device, args.repeats)
    # both paths' answers, compared (their noise differs: radii agree to Monte Carlo error, not exactly)
    cohen_answers = [cohen.certify(x[i], args.n0, args.n, 0.001, args.batch_size) for i in range(args.inputs)]
    cohen_prediction = np.array([c for c, _ in cohen_answers])
    cohen_radius = np.array([r for _, r in cohen_answers])
    rows = []
    for name, options in configurations.items():
        res = rs.certify(model, x, noise, args.n0, args.n, 0.001, batch_size=args.batch_size, seed=0, **options)
        prediction, radius = res.prediction.cpu().numpy(), res.radius.cpu().numpy()
        rows.append({
            "row": name,
            "certify_ms": times[name],
            "cohen_ms": times["cohen"],
            "speedup_vs_cohen": times["cohen"] / times[name],
            "model_alone_ms": times[f"{name}/model"],
            "over_model": times[name] / times[f"{name}/model"],
            "same_prediction_as_cohen": f"{int((prediction == cohen_prediction).sum())}/{args.inputs}",
            "max_radius_diff_vs_cohen": float(np.abs(radius - cohen_radius).max()) if args.inputs else 0.0,
        })
    info = machine_info(str(device))
    info.update(inputs=args.inputs, n0=args.n0, n=args.n, batch_size=args.batch_size,
                forward_passes=len(rows_of_passes))
    print(info)
    print_table(rows, list(rows[0]))
    write_json(args.json, rows, info)


if __name__ == "__main__":
    main()
