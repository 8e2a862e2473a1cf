"""``rsmooth analyze`` (alias ``rsmooth plot``): Cohen et al.'s certified-accuracy tables (Markdown, LaTeX)
and curves of results files of ``rsmooth certify`` or of Cohen's certify.py.

``rsmooth plot RESULTS... --out PNG`` is ``rsmooth analyze RESULTS... --plot PNG``: the same parser and code,
with --out as a second spelling of --plot and a default PNG."""

from __future__ import annotations

import argparse
import math

import numpy as np

from .errors import CliError
from .paths import check_writable
from .report import TABLE_NOTE, largest_certified_radius, latex_table, markdown_table, plot_certified_accuracy
from .results import read_runs
from .running import Log
from .statistics import default_radius_grid

PLOT_ALIAS = "plot"
PLOT_ALIAS_DEFAULT_PNG = "certified_accuracy.png"


def add_parser(sub) -> argparse.ArgumentParser:
    """Add the ``analyze`` subcommand (and its alias ``plot``) to the argparse subparsers ``sub``."""
    a = sub.add_parser("analyze", aliases=[PLOT_ALIAS],
                       help="Cohen-style tables (Markdown, LaTeX) and plot of certify results (alias: plot)",
                       description="Certified accuracy at given radii and the ACR of each results file, as Markdown "
                                   "(printed) and LaTeX tables, and the certified-accuracy curves. "
                                   f"'rsmooth {PLOT_ALIAS} RESULTS... --out PNG' is 'rsmooth analyze RESULTS... "
                                   "--plot PNG'.")
    a.add_argument("results", nargs="+", help="results of rsmooth certify, or Cohen's TSV (idx label predict ...)")
    a.add_argument("--radii", default=None,
                   help="comma-separated radii (default: a round grid up to the largest certified radius)")
    a.add_argument("--labels", default=None, help="comma-separated row labels, one per file (default: the noise "
                   "and level of rsmooth files, the file name of Cohen's)")
    a.add_argument("--markdown", default=None, help="also write the Markdown table to this file")
    a.add_argument("--latex", default=None, help="also write the LaTeX table to this file")
    a.add_argument("--plot", "--out", dest="plot", default=None, metavar="PNG",
                   help="write the certified-accuracy curves (and envelope) to this PNG (default: none; "
                        f"{PLOT_ALIAS_DEFAULT_PNG} under 'rsmooth {PLOT_ALIAS}')")
    return a


def parse_radii(text: str) -> list[float]:
    """'0.25,0.5,0.75' -> [0.25, 0.5, 0.75]: non-negative, finite, increasing."""
    try:
        radii = [float(r) for r in text.split(",") if r.strip()]
    except ValueError:
        raise ValueError(f"radii must be comma-separated numbers, got {text!r}") from None
    if not radii or any(not math.isfinite(r) or r < 0 for r in radii) or sorted(set(radii)) != radii:
        raise ValueError(f"radii must be increasing non-negative numbers, got {text!r}")
    return radii


def run(args: argparse.Namespace, log: Log) -> int:
    """Run ``rsmooth analyze`` / ``rsmooth plot``; 0 on success (errors raise CliError)."""
    if args.command == PLOT_ALIAS and args.plot is None:
        args.plot = PLOT_ALIAS_DEFAULT_PNG
    try:
        radii = parse_radii(args.radii) if args.radii is not None else None
    except ValueError as e:
        raise CliError(f"--radii: {e}") from None
    labels = [s.strip() for s in args.labels.split(",")] if args.labels is not None else None
    if labels is not None and len(labels) != len(args.results):
        raise CliError(f"--labels must name each of the {len(args.results)} results files, got {len(labels)}")
    for out in (args.markdown, args.latex, args.plot):
        if out is not None:
            check_writable(out, resume=True)
    runs = read_runs(args.results, labels)
    if radii is None:
        radii = default_radius_grid(np.array([largest_certified_radius(runs)]))
    markdown, latex = markdown_table(runs, radii), latex_table(runs, radii)
    log(markdown)
    log(TABLE_NOTE)
    for path, text in ((args.markdown, markdown), (args.latex, latex)):
        if path is not None:
            with open(path, "w") as f:
                f.write(text + "\n")
            log(f"wrote {path}")
    if args.plot is not None:
        plot_certified_accuracy(runs, args.plot)
        log(f"plot: {args.plot}")
    return 0
