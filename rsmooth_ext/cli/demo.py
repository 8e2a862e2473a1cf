"""``rsmooth demo``: train a small CNN on scikit-learn's bundled 8x8 digits (offline, cached) and certify
its held-out split, writing the results, their summary and the certified-accuracy plot."""

from __future__ import annotations

import argparse
import os

from ..demo import TRAIN_LOSSES
from ..train import METHODS
from .errors import CliError
from .noise_options import make_noise
from .options import (
    DTYPES,
    add_sampling_options,
    check_channels_last,
    check_counts,
    check_forward_options,
    resolve_device,
)
from .paths import check_directory_writable
from .report import plot_certified_accuracy
from .results import CERTIFY_COLUMNS, ResultsWriter, read_runs
from .running import Log, check_certificate_exists, finish, run_config, run_examples

DEFAULT_SIGMA = 0.5
DEFAULT_N = 2000  # small enough for a laptop CPU in a minute; certify and predict default to Cohen's 100,000


def add_parser(sub) -> argparse.ArgumentParser:
    """Add the ``demo`` subcommand to the argparse subparsers ``sub``."""
    p = sub.add_parser("demo", help="train a small CNN on the bundled 8x8 digits and certify it (offline)",
                       description="Train a small CNN on scikit-learn's bundled 8x8 digits under the noise (cached) "
                                   f"and certify its held-out 20% (--n defaults to {DEFAULT_N:,} here).")
    add_sampling_options(p, certify_options=True, defaults={"sigma": DEFAULT_SIGMA, "n": DEFAULT_N})
    p.add_argument("--out", default="rsmooth-demo", help="output directory (results TSV, JSON, PNG)")
    p.add_argument("--train-loss", default="augment", choices=list(TRAIN_LOSSES) + sorted(METHODS),
                   help="the training method (see rsmooth train --help); augment: gaussian, cross entropy on one "
                        "noisy copy per step")
    p.add_argument("--epochs", type=int, default=30, help="training epochs")
    return p


def run(args: argparse.Namespace, log: Log) -> int:
    """Run ``rsmooth demo``; 0 on success (errors raise CliError)."""
    from ..demo import load_digits_split, train_digits_model

    check_counts(args, True)
    device, dtype = resolve_device(args), DTYPES[args.dtype]
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as e:
        raise CliError(f"cannot create output directory {args.out} ({e.strerror})") from None
    check_directory_writable(args.out)
    _, _, x, y = load_digits_split()
    if args.limit is not None:
        x, y = x[: args.limit], y[: args.limit]
    check_channels_last(args, x)
    check_forward_options(args)
    noise = make_noise(args, x[0].numel(), default_sigma=DEFAULT_SIGMA)
    check_certificate_exists(noise, args.adversary, x[0].numel())
    log(f"rsmooth demo: {len(x)} held-out 8x8 digits, noise {noise!r}, n0={args.n0}, n={args.n}, alpha={args.alpha}")
    if args.epochs < 1:
        raise CliError(f"--epochs must be >= 1, got {args.epochs}")
    try:
        model = train_digits_model(noise, train_loss=args.train_loss, epochs=args.epochs, seed=args.seed, log=log,
                                   quiet=args.quiet)
    except ValueError as e:  # a method that cannot train under this noise (e.g. macer under masking)
        raise CliError(str(e)) from None
    model = model.to(device=device, dtype=dtype)
    sigma = args.sigma if args.sigma is not None else DEFAULT_SIGMA
    level = f"sigma{sigma:g}" if args.lambd is None else f"lambd{args.lambd:g}"
    path = os.path.join(args.out, f"certify-{args.noise}-{level}.tsv")
    if os.path.exists(path):
        os.unlink(path)  # the demo's own output of an earlier run
    config = run_config(args, "certify", noise, {"model": "demo digits CNN", "train_loss": args.train_loss,
                                                  "data": "sklearn digits (held-out 20%)"})
    writer = ResultsWriter(path, config, CERTIFY_COLUMNS, resume=False)
    try:
        seconds = run_examples("certify", model, x, y, noise, args, list(range(len(x))), writer, device, dtype,
                               already_done=0)
    finally:
        writer.close()
    result = finish(path, config, seconds, log)
    png = os.path.splitext(path)[0] + ".png"
    plot_certified_accuracy(read_runs([path]), png)
    log(f"plot: {png}\ncertified {result['examples']} examples in {seconds:.1f} s")
    return 0
