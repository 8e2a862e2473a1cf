"""``rsmooth analyze`` (alias ``rsmooth plot``): Cohen et al.'s certified-accuracy tables (Markdown, LaTeX)
and curves of results files of ``rsmooth certify`` or of Cohen's certify.py; with ``--attack`` (a results file of
``rsmooth attack``), the empirical robust accuracy beside the certified accuracy at the same radii, and the soundness
check of the certificates against the attack (``rsmooth_ext.attacks.soundness``): exit code 1 when it fails.

``rsmooth plot RESULTS... --out PNG`` is ``rsmooth analyze RESULTS... --plot PNG``: the same parser and code,
with --out as a second spelling of --plot and a default PNG."""

from __future__ import annotations

import argparse
import math

import numpy as np

from ..attacks.soundness import DEFAULT_LEVEL, soundness_checks
from .attack import attacked_predictions, empirical_summary
from .errors import CliError
from .paths import check_writable
from .report import (
    EMPIRICAL_NOTE,
    SOUNDNESS_NOTE,
    TABLE_NOTE,
    empirical_table,
    largest_certified_radius,
    latex_table,
    markdown_table,
    plot_certified_accuracy,
    soundness_table,
)
from .results import ResultsError, read_results, read_runs
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
    a.add_argument("results", nargs="*", help="results of rsmooth certify, or Cohen's TSV (idx label predict ...)")
    a.add_argument("--radii", default=None,
                   help="comma-separated radii (default: a round grid up to the largest certified radius)")
    a.add_argument("--labels", default=None, help="comma-separated row labels, one per file (default: the noise "
                   "and level of rsmooth files, the file name of Cohen's)")
    a.add_argument("--markdown", default=None, help="also write the Markdown table to this file")
    a.add_argument("--latex", default=None, help="also write the LaTeX table to this file")
    a.add_argument("--plot", "--out", dest="plot", default=None, metavar="PNG",
                   help="write the certified-accuracy curves (and envelope) to this PNG (default: none; "
                        f"{PLOT_ALIAS_DEFAULT_PNG} under 'rsmooth {PLOT_ALIAS}')")
    a.add_argument("--attack", default=None, metavar="RESULTS",
                   help="results of rsmooth attack: its empirical robust accuracy per eps; with one rsmooth certify "
                        "file of the same model, beside its certified accuracy and checked against it")
    a.add_argument("--alarm-level", type=float, default=DEFAULT_LEVEL,
                   help="level of the soundness test (split over the eps by Bonferroni)")
    return a


# configuration keys that must agree between the certify and the attack run for their rows to compare
SAME_RUN_KEYS = ("noise_repr", "model", "weights", "checkpoint", "arch", "normalization", "dataset", "data",
                 "data_format", "skip", "max", "dtype", "amp")


def run_soundness(certify_path: str | None, attack_path: str, level: float, log: Log) -> int:
    """The empirical table of an attack run and, given a certify run of the same model, the soundness check;
    1 when the check fails."""
    try:
        attack_config, by_eps = attacked_predictions(attack_path)
    except ResultsError as e:
        raise CliError(str(e)) from None
    norm = attack_config.get("norm", "l2")
    if certify_path is None:
        log(empirical_table(empirical_summary(by_eps), norm))
        log(EMPIRICAL_NOTE)
        return 0
    try:
        certified = read_results(certify_path)
    except ResultsError as e:
        raise CliError(f"--attack needs an rsmooth certify results file: {e}") from None
    if certified.config.get("command") != "certify" or "radius" not in certified.columns:
        raise CliError(f"{certify_path} is not a results file of rsmooth certify")
    differ = [k for k in SAME_RUN_KEYS if certified.config.get(k) != attack_config.get(k)]
    if differ:
        raise CliError(f"{certify_path} and {attack_path} come from different runs ({', '.join(differ)} differ): "
                       "certificates and attacks compare only on the same model, noise and data")
    if certified.config.get("adversary") != norm:
        raise CliError(f"the certificates are against {certified.config.get('adversary')}, the attack is in {norm}: "
                       "their radii do not compare")
    rows = {int(r["index"]): r for r in certified.rows}
    for attacked in by_eps.values():
        for index, (label, _) in attacked.items():
            if index in rows and int(rows[index]["label"]) != label:
                raise CliError(f"example {index} has label {int(rows[index]['label'])} in {certify_path} but {label} "
                               f"in {attack_path}: not the same data")
    common = sorted(set(rows).intersection(*[set(a) for a in by_eps.values()]))
    if not common:
        raise CliError(f"{certify_path} and {attack_path} share no example (at every eps)")
    label = np.array([int(rows[i]["label"]) for i in common])
    prediction = np.array([int(rows[i]["prediction"]) for i in common])
    radius = np.array([float(rows[i]["radius"]) for i in common])
    attacked = {eps: np.array([by_eps[eps][i][1] for i in common]) for eps in by_eps}
    try:
        checks = soundness_checks(prediction, radius, attacked, np.array(common),
                                  alpha_certify=float(certified.config["alpha"]),
                                  alpha_predict=float(attack_config["alpha"]), level=level)
    except ValueError as e:
        raise CliError(f"--alarm-level: {e}") from None
    certified_accuracy = [float(np.mean((prediction == label) & (radius >= eps))) for eps in attacked]
    robust_accuracy = [float(np.mean(p == label)) for p in attacked.values()]
    log(f"{len(common)} examples in both runs; alpha certify {certified.config['alpha']:g}, predict "
        f"{attack_config['alpha']:g}, test level {level:g}")
    log(soundness_table(certified_accuracy, robust_accuracy, checks, norm))
    log(SOUNDNESS_NOTE)
    failed = [c for c in checks if c.exceeds]
    for check in checks:
        if check.alarms:
            shown = ", ".join(str(i) for i in check.alarm_indices[:20])
            more = f" and {check.alarms - 20} more" if check.alarms > 20 else ""
            log(f"eps {check.eps:g}: soundness alarms at examples {shown}{more}")
    if failed:
        log(f"UNSOUND: more alarms than alpha allows at eps {', '.join(f'{c.eps:g}' for c in failed)}")
        return 1
    log("sound: no eps has more alarms than alpha allows")
    return 0


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
    if args.attack is not None:
        if len(args.results) > 1:
            raise CliError(f"--attack checks one certify results file, got {len(args.results)}")
        if args.plot is not None or args.markdown is not None or args.latex is not None or args.radii is not None:
            raise CliError("--attack reports at the attack's eps: drop --radii, --plot, --markdown and --latex")
        return run_soundness(args.results[0] if args.results else None, args.attack, args.alarm_level, log)
    if not args.results:
        raise CliError("name at least one results file (or --attack RESULTS)")
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
