"""``rsmooth certify --sequential`` and ``--skip-misclassified``: their options, configuration entries and the
sequential loop over the examples (groups of examples certified together by ``certify_sequential``)."""

from __future__ import annotations

import argparse
import math
import time

import torch

from ..sequential import certify_sequential
from .options import forward_options
from .results import CERTIFY_COLUMNS

SEQUENTIAL_COLUMNS = CERTIFY_COLUMNS[:-1] + ["samples", CERTIFY_COLUMNS[-1]]


def with_top2_column(columns: list[str]) -> list[str]:
    """The columns of a --top2 run: ``p_upper_others`` (the p_B bound) after p_lower."""
    at = columns.index("p_lower") + 1
    return columns[:at] + ["p_upper_others"] + columns[at:]


def add_options(p: argparse.ArgumentParser) -> None:
    """The certify command's options for fewer forward passes."""
    g = p.add_argument_group("fewer forward passes")
    g.add_argument("--skip-misclassified", action="store_true",
                   help="do not estimate examples whose selected class differs from their label (they count 0 at "
                        "every radius anyway): their p_lower and radius are NaN. Certified accuracy and ACR are "
                        "unchanged; the default is Cohen et al.'s protocol (every example estimated)")
    g.add_argument("--sequential", action="store_true",
                   help="sample each example in rounds and stop once its answer is decided (at most --n-max "
                        "estimation samples; --n is not used); the bound is valid at the stopping time")
    stop = g.add_mutually_exclusive_group()
    stop.add_argument("--radii", default=None,
                      help="with --sequential: comma-separated sorted radius grid, e.g. 0,0.25,0.5,0.75,1; each "
                           "example's radius is the largest certified grid radius")
    stop.add_argument("--rtol", type=float, default=None,
                      help="with --sequential and no --radii: stop once the radius at the lower bound is within "
                           "this relative tolerance of the radius at the upper bound (default 0.01)")
    g.add_argument("--n-max", type=int, default=100_000, help="with --sequential: most estimation samples per example")
    g.add_argument("--first-look", type=int, default=1000, help="with --sequential: samples at the first look")
    g.add_argument("--growth", type=float, default=1.5, help="with --sequential: growth factor between looks")
    g.add_argument("--futility", type=float, default=0.05,
                   help="with --sequential: one-sided level of the upper bound that stops examples whose answer "
                        "can no longer improve (does not enter the guarantee; default %(default)s)")
    g.add_argument("--group-size", type=int, default=100,
                   help="with --sequential: examples certified together (finished ones leave, batches stay full)")


def check(args, error) -> None:
    """Validate the options (``error`` builds the CLI's exception); parses --radii into a list of floats."""
    if not getattr(args, "sequential", False):
        for flag in ("radii", "rtol"):
            if getattr(args, flag, None) is not None:
                raise error(f"--{flag} needs --sequential")
        return
    if args.radii is not None:
        try:
            args.radii = [float(r) for r in args.radii.split(",")]
        except ValueError:
            raise error(f"--radii must be comma-separated numbers, got {args.radii!r}") from None
        if not all(math.isfinite(r) and r >= 0 for r in args.radii) or any(
                b <= a for a, b in zip(args.radii, args.radii[1:])):
            raise error(f"--radii must be finite, >= 0 and strictly increasing, got {args.radii}")
    elif args.rtol is None:
        args.rtol = 0.01
    if args.rtol is not None and not 0 < args.rtol < 1:
        raise error(f"--rtol must be in (0, 1), got {args.rtol}")
    for name in ("n_max", "first_look", "group_size"):
        if getattr(args, name) < 1:
            raise error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if not args.growth > 1:
        raise error(f"--growth must be > 1, got {args.growth}")
    if not 0 < args.futility < 1:
        raise error(f"--futility must be in (0, 1), got {args.futility}")


def config(args) -> dict:
    """Configuration entries of these options (none when unused, so earlier results files still resume)."""
    out = {}
    if getattr(args, "skip_misclassified", False):
        out["skip_misclassified"] = True
    if getattr(args, "sequential", False):
        out.update(sequential=True, n_max=args.n_max, radii=args.radii, rtol=args.rtol, first_look=args.first_look,
                   growth=args.growth, futility=args.futility)
    return out


def run_sequential_examples(model, x, y, noise, args, todo, writer, device, dtype, bar, *, row_of=None) -> int:
    """Certify ``todo`` (dataset indices; ``row_of`` maps them to rows of x and y, None: the same) in groups of
    --group-size examples; one row per example (``seconds`` is the group's time shared equally). Returns the
    forward passes the model ran."""
    passes = 0
    for start in range(0, len(todo), args.group_size):
        group = todo[start : start + args.group_size]
        t0 = time.perf_counter()
        ids = torch.tensor(group, device=device)
        rows = group if row_of is None else [row_of[index] for index in group]
        labels = y[rows].to(device) if args.skip_misclassified else None
        xs = x[rows].to(device)
        top2 = getattr(args, "top2", False)
        res = certify_sequential(model, xs, noise, args.alpha, n_max=args.n_max, radii=args.radii,
                                 rtol=args.rtol if args.rtol is not None else 0.01, n0=args.n0,
                                 adversary=args.adversary, batch_size=args.batch_size, seed=args.seed, input_ids=ids,
                                 labels=labels, first_look=args.first_look, growth=args.growth,
                                 futility=args.futility, top2=top2, **forward_options(args, xs, dtype, model, noise))
        passes += res.forward_passes
        seconds = round((time.perf_counter() - t0) / len(group), 6)
        for j, index in enumerate(group):
            prediction, label = int(res.prediction[j]), int(y[rows[j]])
            row = {"index": index, "label": label, "prediction": prediction, "p_lower": float(res.p_lower[j]),
                   "radius": float(res.radius[j]), "correct": int(prediction == label),
                   "samples": int(res.num_samples[j]), "seconds": seconds}
            if top2:
                row["p_upper_others"] = float(res.p_upper_others[j])
            if writer is not None:
                writer.write(row)
        bar.update(len(group))
        bar.set_postfix(passes_per_example=f"{passes / (start + len(group)):.3g}")
    return passes
