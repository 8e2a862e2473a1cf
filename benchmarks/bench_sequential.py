"""Benchmark (not a test): certified-accuracy tables at a radius grid from Cohen et al.'s fixed n = 100,000
against ``certify_sequential`` at n_max = 100,000 with the same grid, and the forward passes each spends.

(a) The demo's digits CNN (rsmooth_ext/demo.py, trained under the same Gaussian noise; cached after the
    first run), on the first --examples held-out digits, through the real sampler: ``certify`` vs
    ``certify_sequential`` (with and without labels, i.e. --skip-misclassified), in the same run.
(b) A synthetic population shaped like Cohen et al.'s CIFAR-10 results (sigma = 0.25: 75 / 60 / 43 / 27 / 0%
    certified at 0 / 0.25 / 0.5 / 0.75 / 1): 15% misclassified, 5% near the decision boundary (p_A in
    [0.45, 0.55]), the rest spread up to large radii (Phi^-1(p_A) uniform on [0, 3] for 60% of them, on
    [3, 4.5] for 10%, p_A = 1 for 30%). The votes are simulated in NumPy; the fixed run
    and the sequential run read the same vote stream (the sequential one stops early), so their difference
    is the procedure's, not Monte Carlo noise. Several seeds.

    python benchmarks/bench_sequential.py                       # a few minutes on 2 cores
    python benchmarks/bench_sequential.py --examples 359 --device cuda --json benchmarks/results/sequential.json
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _common import machine_info, print_table, write_json
from scipy import stats

import rsmooth_ext as rs
from rsmooth_ext.sequential import StoppingRule, look_schedule, run_stopping_rule, simulate_successes
from rsmooth_ext.stats import clopper_pearson_lower

GRID = [0.0, 0.25, 0.5, 0.75, 1.0]


def certified_accuracy(radius: np.ndarray, correct: np.ndarray, grid) -> np.ndarray:
    """Fraction of inputs that are correct and certified at each grid radius (NaN radius: not certified)."""
    radius = np.where(correct, np.nan_to_num(radius, nan=-1.0), -1.0)
    return np.array([(radius >= r).mean() for r in grid])


def quantiles(passes: np.ndarray) -> dict:
    return {"mean": float(passes.mean()), **{f"q{q}": float(np.quantile(passes, q / 100)) for q in (10, 50, 90, 99)},
            "max": float(passes.max())}


def _row(name, table, passes, fixed_table, fixed_mean, **extra):
    q = quantiles(passes)
    row = {"run": name, **{f"r={r:g}": f"{100 * a:.1f}" for r, a in zip(GRID, table)},
           "passes_mean": q["mean"], "passes_q50": q["q50"], "passes_q90": q["q90"], "passes_max": q["max"],
           "fewer_passes": fixed_mean / q["mean"],
           "max_diff_pp": float(100 * np.abs(table - fixed_table).max()) if fixed_table is not None else 0.0}
    row.update(extra)
    return row


# ---- (b) synthetic -------------------------------------------------------------------------------------------


def synthetic_population(size: int, rng: np.random.Generator):
    """(p_A of the selected class, whether the selected class is the label) of a CIFAR-10-like population."""
    kind = rng.choice(3, size=size, p=[0.15, 0.05, 0.80])
    p = np.empty(size)
    wrong = kind == 0
    p[wrong] = rng.uniform(0.2, 0.95, wrong.sum())  # the selected (wrong) class's probability
    near = kind == 1
    p[near] = rng.uniform(0.45, 0.55, near.sum())
    rest = np.flatnonzero(kind == 2)
    spread = rng.choice(3, size=rest.size, p=[0.6, 0.1, 0.3])
    z = np.where(spread == 0, rng.uniform(0.0, 3.0, rest.size), rng.uniform(3.0, 4.5, rest.size))
    p[rest] = np.where(spread == 2, 1.0, stats.norm.cdf(z))
    return p, ~wrong


def bench_synthetic(args, seed: int) -> list[dict]:
    sigma, n, alpha, n0 = 0.25, args.n, args.alpha, args.n0
    rng = np.random.default_rng(seed)
    p, correct = synthetic_population(args.synthetic_size, rng)
    schedule = look_schedule(n, alpha, first_look=args.first_look, growth=args.growth)
    rule = StoppingRule(schedule, lambda q: sigma * stats.norm.ppf(q), radii=GRID, futility=args.futility)
    votes = simulate_successes(p, schedule, rng)  # cumulative votes at the looks; the last look is n
    lower = clopper_pearson_lower(votes[:, -1], n, alpha)
    fixed_radius = np.where(lower > 0.5, sigma * stats.norm.ppf(np.clip(lower, 0.5, 1.0)), np.nan)
    fixed = certified_accuracy(fixed_radius, correct, GRID)
    fixed_mean = float(n0 + n)
    outcome = run_stopping_rule(rule, votes)
    seq_radius = np.where(outcome.certified, outcome.radius, np.nan)
    seq = certified_accuracy(seq_radius, correct, GRID)
    passes = n0 + outcome.num_samples
    skip_passes = np.where(correct, passes, n0)  # with labels: misclassified inputs stop after the selection
    tag = f"synthetic seed {seed}"
    return [
        _row(f"{tag}: fixed n", fixed, np.full(len(p), fixed_mean), fixed, fixed_mean),
        _row(f"{tag}: sequential", seq, passes, fixed, fixed_mean),
        _row(f"{tag}: sequential + skip", seq, skip_passes, fixed, fixed_mean),
    ]


# ---- (a) the demo's digits CNN -------------------------------------------------------------------------------


def bench_digits(args) -> list[dict]:
    from rsmooth_ext.demo import load_digits_split, train_digits_model

    noise = rs.Gaussian(sigma=0.25)
    model = train_digits_model(noise, epochs=args.epochs, seed=0, quiet=True).to(args.device)
    _, _, x, y = load_digits_split()
    x, y = x[: args.examples].to(args.device), y[: args.examples]
    common = dict(batch_size=args.batch_size, seed=args.seed, channels_last=False)
    sequential = dict(n_max=args.n, radii=GRID, n0=args.n0, first_look=args.first_look, growth=args.growth,
                      futility=args.futility, **common)
    t0 = time.perf_counter()
    fixed = rs.certify(model, x, noise, args.n0, args.n, args.alpha, **common)
    t_fixed = time.perf_counter() - t0
    t0 = time.perf_counter()
    seq = rs.certify_sequential(model, x, noise, args.alpha, **sequential)
    t_seq = time.perf_counter() - t0
    t0 = time.perf_counter()
    skip = rs.certify_sequential(model, x, noise, args.alpha, labels=y.to(args.device), **sequential)
    t_skip = time.perf_counter() - t0
    label = y.numpy()

    def table(res):
        return certified_accuracy(res.radius.cpu().numpy(), res.prediction.cpu().numpy() == label, GRID)

    fixed_table, fixed_mean = table(fixed), float(args.n0 + args.n)
    rows = [_row("digits CNN: fixed n", fixed_table, np.full(len(x), fixed_mean), fixed_table, fixed_mean,
                 seconds=t_fixed)]
    for name, res, seconds in (("sequential", seq, t_seq), ("sequential + skip", skip, t_skip)):
        passes = args.n0 + res.num_samples.cpu().numpy()
        rows.append(_row(f"digits CNN: {name}", table(res), passes, fixed_table, fixed_mean, seconds=seconds,
                         model_rows=res.forward_passes, num_samples=res.num_samples.cpu().tolist()))
    _print_where_passes_go(fixed, seq, args)
    return rows


def _print_where_passes_go(fixed, seq, args) -> None:
    """Mean sequential passes of the inputs in each band of their fixed-n radius: the ones that stay open
    longest are those whose radius lies near a grid radius (or p_A near 1/2)."""
    radius = np.where(fixed.prediction.cpu().numpy() >= 0, fixed.radius.cpu().numpy(), -1.0)
    passes = args.n0 + seq.num_samples.cpu().numpy()
    edges = [-np.inf, 0.0] + GRID[1:] + [np.inf]
    print("sequential passes by the fixed-n radius (abstain = -1): band | inputs | mean passes")
    for lo, hi in zip(edges[:-1], edges[1:]):
        band = (radius >= lo) & (radius < hi) if np.isfinite(lo) else radius < hi
        if band.any():
            print(f"  [{lo:g}, {hi:g}) | {int(band.sum())} | {passes[band].mean():.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n", type=int, default=100_000, help="fixed n, and n_max of the sequential runs")
    parser.add_argument("--n0", type=int, default=100)
    parser.add_argument("--alpha", type=float, default=0.001)
    parser.add_argument("--first-look", type=int, default=1000)
    parser.add_argument("--growth", type=float, default=1.5)
    parser.add_argument("--futility", type=float, default=0.05)
    parser.add_argument("--examples", type=int, default=6, help="held-out digits (359 in all); 0 skips (a)")
    parser.add_argument("--epochs", type=int, default=30, help="training epochs of the digits CNN")
    parser.add_argument("--batch-size", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0, help="sampling seed of (a)")
    parser.add_argument("--seeds", default="0,1,2,3,4", help="population and vote seeds of (b)")
    parser.add_argument("--synthetic-size", type=int, default=10_000)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    columns = ["run", *[f"r={r:g}" for r in GRID], "passes_mean", "passes_q50", "passes_q90", "passes_max",
               "fewer_passes", "max_diff_pp"]
    rows = []
    for seed in (int(s) for s in args.seeds.split(",") if s):
        rows += bench_synthetic(args, seed)
    if rows:
        print(f"(b) synthetic CIFAR-10-like population, sigma = 0.25, {args.synthetic_size} inputs per seed, "
              f"n = n_max = {args.n}, alpha = {args.alpha}; certified accuracy (%) at each radius")
        print_table(rows, columns)
        worst = max(r["max_diff_pp"] for r in rows)
        fewest = min(r["fewer_passes"] for r in rows if r["run"].endswith(": sequential"))
        print(f"largest table difference over all seeds: {worst:.2f} pp; smallest ratio of passes (no labels): "
              f"{fewest:.1f}x")
    if args.examples:
        digits = bench_digits(args)
        print(f"\n(a) digits CNN, sigma = 0.25, {args.examples} held-out digits, same run")
        print_table(digits, columns + ["seconds"])
        rows += digits
    write_json(args.json, rows, machine_info(args.device) | {"args": vars(args)})


if __name__ == "__main__":
    main()
