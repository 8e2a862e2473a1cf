"""``rsmooth attack``: empirical robustness of a model's smoothed classifier. For each eps, each example is
attacked (PGD or DDN on the soft smoothed classifier, ``rsmooth_ext.attacks``) and the smoothed classifier's
PREDICT (as ``rsmooth predict``) is run on the adversarial input; one results row per (example, eps), resumable.
``rsmooth analyze CERTIFY.tsv --attack ATTACK.tsv`` sets the rows beside the certificates of the same model."""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import numpy as np
import torch

from ..attacks import GRADIENTS, METHODS, NORMS, attack
from ..sampling import distributed as dist
from ..smooth import predict
from .errors import CliError
from .options import (
    COHEN_N,
    add_data_options,
    add_model_options,
    add_output_options,
    add_sampling_options,
    check_counts,
    forward_options,
)
from .report import empirical_table
from .results import ResultsError, ResultsWriter, read_results
from .running import Log, command_config, load_run

ATTACK_COLUMNS = ["index", "label", "eps", "prediction", "correct", "seconds"]
DEFAULT_EPS = "0.25,0.5,0.75,1.0"

DESCRIPTION = (f"Attack a model's smoothed classifier on a dataset: for each --eps, PGD (or DDN) on the soft smoothed "
               f"classifier with --m noisy copies, then Cohen et al.'s PREDICT on the adversarial input (--n defaults "
               f"to Cohen's {COHEN_N:,} samples). One TSV row per example and eps, a JSON summary, the empirical "
               "robust accuracy per eps.")


def add_parser(sub) -> argparse.ArgumentParser:
    """Add the ``attack`` subcommand to the argparse subparsers ``sub``."""
    p = sub.add_parser("attack", help="empirical robust accuracy under an attack on the smoothed classifier",
                       description=DESCRIPTION)
    add_model_options(p)
    add_data_options(p)
    add_output_options(p)
    add_sampling_options(p, certify_options=False, defaults={})
    a = p.add_argument_group("attack")
    a.add_argument("--eps", default=DEFAULT_EPS, help="comma-separated budgets, increasing, >= 0")
    a.add_argument("--norm", default="l2", choices=NORMS, help="threat model of the budget")
    a.add_argument("--method", default="pgd", choices=METHODS, help="pgd (any norm) or ddn (l2)")
    a.add_argument("--gradient", default="soft", choices=GRADIENTS,
                   help="soft: cross-entropy of the mean softmax of the copies (Salman et al.); eot: mean of the "
                        "copies' cross-entropies")
    a.add_argument("--steps", type=int, default=20, help="attack steps")
    a.add_argument("--m", dest="copies", type=int, default=32, help="noisy copies per step (fixed over the steps)")
    a.add_argument("--step-size", type=float, default=None, help="PGD step (default: 2 * eps / steps, Salman et al.'s)")
    return p


def parse_eps(text: str) -> list[float]:
    """'0.25,0.5' -> [0.25, 0.5]: finite, >= 0, increasing."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CliError(f"--eps must be comma-separated numbers, got {text!r}") from None
    if not values or any(not math.isfinite(v) or v < 0 for v in values) or sorted(set(values)) != values:
        raise CliError(f"--eps must be increasing numbers >= 0, got {text!r}")
    return values


def _check_attack_options(args: argparse.Namespace) -> list[float]:
    eps = parse_eps(args.eps)
    if args.steps < 1:
        raise CliError(f"--steps must be >= 1, got {args.steps}")
    if args.copies < 1:
        raise CliError(f"--m must be >= 1, got {args.copies}")
    if args.step_size is not None and not (math.isfinite(args.step_size) and args.step_size > 0):
        raise CliError(f"--step-size must be a finite number > 0, got {args.step_size}")
    if args.method == "ddn" and args.norm != "l2":
        raise CliError(f"--method ddn is an l2 attack; got --norm {args.norm}")
    if dist.launched_by_torchrun():
        raise CliError("rsmooth attack runs in one process; split the examples with --skip / --max instead")
    return eps


def run(args: argparse.Namespace, log: Log) -> int:
    """Run ``rsmooth attack``; 0 on success (errors raise CliError)."""
    check_counts(args, False)
    budgets = _check_attack_options(args)
    device, dtype, model, x, y, indices, noise = load_run(args)
    config = command_config(args, "attack", noise)
    config.update(eps=budgets, norm=args.norm, method=args.method, gradient=args.gradient, steps=args.steps,
                  m=args.copies, step_size=args.step_size)
    try:
        writer = ResultsWriter(args.out, config, ATTACK_COLUMNS, resume=args.resume)
        done = {(int(r["index"]), float(r["eps"])) for r in read_results(args.out).rows} if args.resume else set()
    except ResultsError as e:
        raise CliError(str(e)) from None
    start = time.perf_counter()
    try:
        for position, index in enumerate(indices):
            todo = [e for e in budgets if (index, e) not in done]
            if not todo:
                continue
            xi = x[position : position + 1].to(device, dtype)
            yi = y[position : position + 1].to(device)
            ids = torch.tensor([index], device=device)
            options = forward_options(args, xi, dtype)
            for eps in todo:
                t0 = time.perf_counter()
                adv = attack(model, xi, yi, noise, eps, args.steps, args.copies, args.seed, norm=args.norm,
                             method=args.method, gradient=args.gradient, step_size=args.step_size, input_ids=ids,
                             autocast=options["autocast"], channels_last=options["channels_last"])
                prediction = int(predict(model, adv, noise, args.n, args.alpha, batch_size=args.batch_size,
                                         seed=args.seed, input_ids=ids, **options)[0])
                label = int(yi[0])
                writer.write({"index": index, "label": label, "eps": eps, "prediction": prediction,
                              "correct": int(prediction == label), "seconds": round(time.perf_counter() - t0, 6)})
    finally:
        writer.close()
    finish_attack(args.out, config, time.perf_counter() - start, log)
    return 0


def attacked_predictions(path: str) -> tuple[dict, dict[float, dict[int, tuple[int, int]]]]:
    """A results file of ``rsmooth attack``: its configuration and, per eps, index -> (label, prediction)."""
    results = read_results(path)
    if results.config.get("command") != "attack" or "eps" not in results.columns:
        raise ResultsError(f"{path} is not a results file of rsmooth attack (no eps column)")
    by_eps: dict[float, dict[int, tuple[int, int]]] = {}
    for row in results.rows:
        by_eps.setdefault(float(row["eps"]), {})[int(row["index"])] = (int(row["label"]), int(row["prediction"]))
    return results.config, dict(sorted(by_eps.items()))


def empirical_summary(by_eps: dict[float, dict[int, tuple[int, int]]]) -> dict:
    """Per eps: examples, empirical robust accuracy (attacked prediction = label) and abstention rate."""
    out = {}
    for eps, rows in by_eps.items():
        labels = np.array([label for label, _ in rows.values()])
        predictions = np.array([prediction for _, prediction in rows.values()])
        out[f"{eps:g}"] = {"examples": len(rows), "robust_accuracy": float(np.mean(predictions == labels)),
                           "abstention_rate": float(np.mean(predictions == -1))}
    return out


def finish_attack(path: str, config: dict, seconds: float, log: Log) -> dict:
    """Write the JSON summary beside the results file and print the empirical robust accuracy per eps."""
    _, by_eps = attacked_predictions(path)
    result = {"config": config, "seconds": round(seconds, 3), "empirical": empirical_summary(by_eps)}
    summary_path = os.path.splitext(path)[0] + ".json"
    with open(summary_path, "w") as f:
        json.dump(result, f, indent=2)
    log(empirical_table(result["empirical"], config.get("norm", "l2")))
    log(f"results: {path}\nsummary: {summary_path}")
    return result
