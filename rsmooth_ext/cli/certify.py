"""``rsmooth certify``: certified radii of a model's smoothed classifier on a dataset (Cohen et al.'s
CERTIFY), one results row per example, resumable, shardable under torchrun."""

from __future__ import annotations

import argparse

from . import sequential as cli_sequential
from .options import COHEN_N, add_data_options, add_model_options, add_output_options, add_sampling_options
from .running import Log, run_command

DESCRIPTION = (f"Certify a model on a dataset (--n defaults to Cohen's {COHEN_N:,} samples). Cohen et al.'s "
               "CERTIFY: one TSV row per example as it finishes, a JSON summary, the certified-accuracy table.")


def add_parser(sub) -> argparse.ArgumentParser:
    """Add the ``certify`` subcommand to the argparse subparsers ``sub``."""
    p = sub.add_parser("certify", help="certify a model on a dataset", description=DESCRIPTION)
    add_model_options(p)
    add_data_options(p)
    add_output_options(p)
    add_sampling_options(p, certify_options=True, defaults={})
    cli_sequential.add_options(p)
    return p


def run(args: argparse.Namespace, log: Log) -> int:
    """Run ``rsmooth certify``; 0 on success (errors raise CliError)."""
    return run_command(args, "certify", log)
