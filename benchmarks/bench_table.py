"""Benchmark (not a test): the wall time to a certified-accuracy table (radii 0, 0.25, 0.5, 0.75, 1.0) on the
8x8 digits' held-out split with the demo's CNN (``rsmooth_ext.demo``, Gaussian sigma = 0.5), n0 = 100,
n = 100,000, alpha = 0.001, batch 1000, three ways in the same run:

* ``cohen``: Cohen et al.'s ``Smooth.certify`` algorithm as written, re-implemented here: one example at a
  time, each batch ``x.repeat`` + ``torch.randn_like * sigma``, the float32 model, argmax, counts on the host,
  the one-sided Clopper-Pearson bound and sigma * Phi^-1(p_lower);
* ``rsmooth``: ``rsmooth_ext.certify`` with its default options, one example per call (as ``rsmooth certify``);
* ``sequential_fast``: ``rsmooth certify --sequential --fast --skip-misclassified --radii 0,0.25,0.5,0.75,1``:
  ``certify_sequential(..., radii=grid, fast=True, labels=...)`` on groups of 100 examples, at most n_max =
  100,000 estimation samples each; the tuning time (``fast``) is included in its wall time (a fresh tuning
  cache) and reported apart.

It prints the three tables side by side, each one's wall time and speedup over ``cohen``, and the largest
difference of any table entry from ``cohen``'s (in percentage points). ``--examples K`` runs the first K
held-out examples (the Cohen-style loop takes about 0.4 s per example on 2 CPU threads).

    python benchmarks/bench_table.py --json benchmarks/results/table_cpu.json
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np
import torch
from scipy import stats

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import machine_info, write_json  # noqa: E402

import rsmooth_ext as rs  # noqa: E402
from rsmooth_ext.demo import load_digits_split, train_digits_model  # noqa: E402

GRID = (0.0, 0.25, 0.5, 0.75, 1.0)
SIGMA = 0.5


class CohenStyleSmooth:
    """Cohen et al.'s Smooth.certify, as written: per example, selection then estimation counts from batches
    of x.repeat + randn * sigma through the model, counted on the host."""

    def __init__(self, model, num_classes: int, sigma: float):
        self.model, self.num_classes, self.sigma = model, num_classes, sigma

    def counts(self, x: torch.Tensor, num: int, batch_size: int) -> np.ndarray:
        counts = np.zeros(self.num_classes, dtype=np.int64)
        with torch.no_grad():
            remaining = num
            while remaining > 0:
                size = min(batch_size, remaining)
                remaining -= size
                batch = x.repeat((size, 1, 1, 1))
                noise = torch.randn_like(batch) * self.sigma
                predictions = self.model(batch + noise).argmax(1)
                counts += np.bincount(predictions.cpu().numpy(), minlength=self.num_classes)
        return counts

    def certify(self, x: torch.Tensor, n0: int, n: int, alpha: float, batch_size: int) -> tuple[int, float]:
        self.model.eval()
        c_a = int(self.counts(x, n0, batch_size).argmax())
        n_a = int(self.counts(x, n, batch_size)[c_a])
        p_lower = stats.beta.ppf(alpha, n_a, n - n_a + 1) if n_a > 0 else 0.0  # one-sided Clopper-Pearson
        if p_lower < 0.5:
            return -1, 0.0
        return c_a, self.sigma * stats.norm.ppf(p_lower)


def certified_accuracy(prediction: np.ndarray, radius: np.ndarray, labels: np.ndarray) -> np.ndarray:
    correct = prediction == labels
    radius = np.nan_to_num(radius, nan=-1.0)
    return np.array([float((correct & (radius >= r)).mean()) for r in GRID])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=None, help="the first K held-out examples (default: all)")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--n0", type=int, default=100)
    parser.add_argument("--alpha", type=float, default=0.001)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    noise = rs.Gaussian(sigma=SIGMA)
    model = train_digits_model(noise, log=print, quiet=True).eval()
    _, _, x, y = load_digits_split()
    if args.examples is not None:
        x, y = x[: args.examples], y[: args.examples]
    labels = y.numpy()
    count = len(x)
    print(f"{count} held-out digits, n0={args.n0}, n={args.n}, alpha={args.alpha}, batch {args.batch_size}, "
          f"{torch.get_num_threads()} threads, cpu capability {torch.backends.cpu.get_cpu_capability()}, "
          f"native bf16 {torch.ops.mkldnn._is_mkldnn_bf16_supported()}")
    rows, tables = [], {}

    torch.manual_seed(0)
    cohen = CohenStyleSmooth(model, 10, SIGMA)
    t0 = time.perf_counter()
    answers = [cohen.certify(x[i : i + 1], args.n0, args.n, args.alpha, args.batch_size) for i in range(count)]
    seconds = time.perf_counter() - t0
    tables["cohen"] = certified_accuracy(np.array([a[0] for a in answers]), np.array([a[1] for a in answers]), labels)
    rows.append({"row": "cohen", "seconds": seconds})

    t0 = time.perf_counter()
    prediction, radius = np.zeros(count, dtype=np.int64), np.zeros(count)
    for i in range(count):
        res = rs.certify(model, x[i : i + 1], noise, args.n0, args.n, args.alpha, batch_size=args.batch_size,
                         seed=0, input_ids=torch.tensor([i]))
        prediction[i], radius[i] = int(res.prediction[0]), float(res.radius[0])
    rows.append({"row": "rsmooth", "seconds": time.perf_counter() - t0})
    tables["rsmooth"] = certified_accuracy(prediction, radius, labels)

    with tempfile.TemporaryDirectory() as cache:  # a fresh tuning cache: the tuning is paid and timed
        previous = os.environ.get("RSMOOTH_CACHE_DIR")
        os.environ["RSMOOTH_CACHE_DIR"] = cache
        try:
            from rsmooth_ext.sampling import tuning

            tuning.clear_process_cache()
            t0 = time.perf_counter()
            choice = tuning.tune(model, x[:1], noise, batch_size=args.batch_size)
            tune_seconds = time.perf_counter() - t0
            print(choice.summary())
            prediction, radius = np.zeros(count, dtype=np.int64), np.zeros(count)
            for g in range(0, count, 100):
                rows_g = slice(g, min(g + 100, count))
                res = rs.certify_sequential(model, x[rows_g], noise, args.alpha, n_max=args.n, radii=GRID,
                                            n0=args.n0, batch_size=args.batch_size, seed=0,
                                            input_ids=torch.arange(g, rows_g.stop), labels=y[rows_g], fast=True)
                prediction[rows_g], radius[rows_g] = res.prediction.numpy(), res.radius.numpy()
            seconds = time.perf_counter() - t0
        finally:
            if previous is None:
                os.environ.pop("RSMOOTH_CACHE_DIR", None)
            else:
                os.environ["RSMOOTH_CACHE_DIR"] = previous
    rows.append({"row": "sequential_fast", "seconds": seconds, "tuning_seconds": tune_seconds,
                 "fast_choice": choice.candidate.name, "fast_seconds_per_batch": choice.seconds})
    tables["sequential_fast"] = certified_accuracy(prediction, radius, labels)

    base = rows[0]["seconds"]
    print("\n| radius | " + " | ".join(r["row"] for r in rows) + " |")
    print("|---|" + "---|" * len(rows))
    for j, r in enumerate(GRID):
        print(f"| {r:g} | " + " | ".join(f"{tables[row['row']][j]:.3f}" for row in rows) + " |")
    print()
    for row in rows:
        row["speedup"] = base / row["seconds"]
        row["table"] = dict(zip((f"{r:g}" for r in GRID), tables[row["row"]].tolist()))
        row["largest_difference_pp"] = float(np.abs(tables[row["row"]] - tables["cohen"]).max() * 100)
        print(f"{row['row']:>16}: {row['seconds']:8.1f} s, {row['speedup']:6.1f}x the Cohen-style loop, largest "
              f"table difference {row['largest_difference_pp']:.2f} percentage points")
    info = machine_info("cpu")
    info.update(capability=torch.backends.cpu.get_cpu_capability(),
                native_bf16=bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()), examples=count, n=args.n,
                n0=args.n0, alpha=args.alpha, batch_size=args.batch_size)
    write_json(args.json, rows, info)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
