"""The ``rsmooth`` command (also ``python -m rsmooth_ext``), one module per subcommand:

    demo      train a small CNN on bundled digits and certify it    (cli/demo.py)
    certify   certified radii of a model on a dataset               (cli/certify.py)
    predict   smoothed predictions only                             (cli/predict.py)
    train     train a base classifier under noise, any method       (cli/train.py)
    attack    empirical robust accuracy under an attack             (cli/attack.py)
    analyze   certified-accuracy tables and curves; alias ``plot``  (cli/analyze.py)
    tables    build or inspect the certificate tables               (cli/tables.py)
    info      build, CPU capabilities, GPUs, versions, cache        (cli/info.py)

Each command module has ``add_parser(sub)`` (adds its subcommand to the argparse subparsers and returns
it) and ``run(args, log) -> int``. Shared pieces: options.py (option groups and their checks),
noise_options.py, loading.py (model and data), running.py (the run loop, resume, torchrun sharding),
results.py (results files), statistics.py and report.py (the one implementation of each statistic,
table and plot), paths.py (output checks), sequential.py (``certify --sequential``).

Every error is one line on stderr and exit code 2; a results file is only created once the model, data
and output location have been checked, and is never overwritten (``--resume`` continues it)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import __version__
from . import analyze, attack, certify, demo, info, predict, tables, train
from .errors import CliError
from .noise_options import make_noise
from .options import HelpFormatter, add_sampling_options
from .results import ResultsError

COMMANDS = (demo, certify, predict, train, attack, analyze, tables, info)

# The names tests/test_noise_families.py builds its noise parser from (add_sampling_options lives in options).
_add_sampling_options = add_sampling_options

__all__ = ["CliError", "build_parser", "main", "make_noise"]


def build_parser() -> argparse.ArgumentParser:
    """The ``rsmooth`` parser: one subcommand per command module; every option's help shows its default."""
    parser = argparse.ArgumentParser(prog="rsmooth", description="Randomized-smoothing certification with rsmooth_ext.",
                                     formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"rsmooth_ext {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    runners = {}
    for module in COMMANDS:
        command = module.add_parser(sub)
        # set here rather than in each add_parser, so no command can render its help without the defaults
        command.formatter_class = HelpFormatter
        runners[command] = module.run
    for command in sub.choices.values():  # an alias maps to its command's parser too
        command.set_defaults(_run=runners[command])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: sys.argv[1:]) and run the command; its exit code (2 for a user error)."""
    args = build_parser().parse_args(argv)
    try:
        return args._run(args, print)
    except (CliError, ResultsError, FloatingPointError) as e:
        print(f"rsmooth: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rsmooth: interrupted; finished rows are kept (continue with --resume)", file=sys.stderr)
        return 130
