"""``rsmooth predict``: the smoothed classifier's predictions only (Cohen et al.'s PREDICT), with the run
loop, resume and torchrun sharding of ``certify``."""

from __future__ import annotations

import argparse

from .options import COHEN_N, add_data_options, add_model_options, add_output_options, add_sampling_options
from .running import Log, run_command

DESCRIPTION = (f"Smoothed predictions of a model on a dataset (Cohen et al.'s PREDICT; --n defaults to Cohen's "
               f"{COHEN_N:,} samples). Writes one TSV row per example and a JSON summary.")


def add_parser(sub) -> argparse.ArgumentParser:
    """Add the ``predict`` subcommand to the argparse subparsers ``sub``."""
    p = sub.add_parser("predict", help="smoothed predictions only", description=DESCRIPTION)
    add_model_options(p)
    add_data_options(p)
    add_output_options(p)
    add_sampling_options(p, certify_options=False, defaults={})
    return p


def run(args: argparse.Namespace, log: Log) -> int:
    """Run ``rsmooth predict``; 0 on success (errors raise CliError)."""
    return run_command(args, "predict", log)
