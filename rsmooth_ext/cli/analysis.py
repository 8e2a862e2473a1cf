"""Cohen et al.'s analysis of certification results: certified accuracy at given radii (Markdown and LaTeX
tables, one row per run, the best run at each radius marked), the average certified radius, and the
certified-accuracy curves of several runs with their envelope (the best over runs, e.g. over sigma).

Conventions, stated because papers differ on them: an example counts as certified at radius r when it is
classified correctly and its certified radius is >= r; abstentions and misclassifications count as
certified at no radius and contribute 0 to the ACR, which averages over all examples of the file.

Reads the results files of ``rsmooth certify`` and Cohen's TSV (columns idx, label, predict, radius,
correct, time; time in seconds or as H:MM:SS.ffffff)."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .results import CONFIG_PREFIX, ResultsError, read_results, run_label

COHEN_COLUMNS = ("idx", "label", "predict", "radius", "correct", "time")
_DURATION = re.compile(r"(?:(\d+) days?, )?(\d+):(\d{2}):(\d{2}(?:\.\d+)?)")


@dataclass
class Run:
    """One results file: per example, whether it was classified correctly, its certified radius and
    prediction (-1: abstained), and the seconds it took."""

    label: str
    path: str
    correct: np.ndarray
    radius: np.ndarray
    prediction: np.ndarray
    seconds: np.ndarray

    def certified_accuracy(self, radii: Sequence[float]) -> np.ndarray:
        """Fraction of examples classified correctly with certified radius >= r, for each r."""
        if len(self.correct) == 0:
            return np.full(len(radii), math.nan)
        return np.array([float(np.mean(self.correct & (self.radius >= r))) for r in radii])

    def average_certified_radius(self) -> float:
        """Mean over all examples of the radius of correct predictions, 0 for the others."""
        return float(np.mean(np.where(self.correct, self.radius, 0.0))) if len(self.correct) else math.nan

    def abstention_rate(self) -> float:
        return float(np.mean(self.prediction == -1)) if len(self.prediction) else math.nan


def parse_seconds(text: str) -> float:
    """A duration as seconds: '12.5' or str(datetime.timedelta): 'H:MM:SS[.ffffff]', '1 day, H:MM:SS'."""
    try:
        return float(text)
    except ValueError:
        pass
    m = _DURATION.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"time must be seconds or H:MM:SS.ffffff, got {text!r}")
    days, hours, minutes, seconds = m.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def read_run(path: str, label: str | None = None) -> Run:
    """A results file of ``rsmooth certify`` or Cohen's certify.py (detected from its first line)."""
    if not os.path.isfile(path):
        raise ResultsError(f"results file {path} does not exist")
    with open(path) as f:
        first = f.readline()
    if first.startswith(CONFIG_PREFIX):
        results = read_results(path)
        if "radius" not in results.columns:
            raise ResultsError(f"{path} holds predictions, not certificates: it has no radius column")
        n = len(results.rows)
        column = (lambda c: results.column(c)) if n else (lambda c: np.zeros(0))
        return Run(label or run_label(results.config), path, column("correct").astype(bool), column("radius"),
                   column("prediction").astype(np.int64), column("seconds"))
    return _read_cohen(path, label)


def _read_cohen(path: str, label: str | None) -> Run:
    with open(path) as f:
        lines = f.read().split("\n")
    header = lines[0].strip().split("\t")
    if tuple(header) != COHEN_COLUMNS:
        raise ResultsError(f"{path} is neither an rsmooth results file nor Cohen's TSV (header "
                           f"{chr(9).join(COHEN_COLUMNS)!r}); its first line is {lines[0][:80]!r}")
    correct, radius, prediction, seconds = [], [], [], []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        values = line.rstrip("\r").split("\t")
        if len(values) != len(COHEN_COLUMNS):
            raise ResultsError(f"{path}:{number}: expected {len(COHEN_COLUMNS)} columns, got {len(values)}")
        try:
            prediction.append(int(values[2]))
            radius.append(float(values[3]))
            correct.append(int(values[4]))
            seconds.append(parse_seconds(values[5]))
        except ValueError as e:
            raise ResultsError(f"{path}:{number}: {e}") from None
    if any(c not in (0, 1) for c in correct):
        raise ResultsError(f"{path}: the correct column must hold 0 or 1")
    return Run(label or os.path.basename(path), path, np.array(correct, dtype=bool), np.array(radius),
               np.array(prediction, dtype=np.int64), np.array(seconds))


def read_runs(paths: Sequence[str], labels: Sequence[str] | None = None) -> list[Run]:
    """Read several results files; duplicate labels get their file name appended."""
    if labels is not None and len(labels) != len(paths):
        raise ValueError(f"labels must name each of the {len(paths)} files, got {len(labels)}")
    runs = [read_run(p, labels[i] if labels else None) for i, p in enumerate(paths)]
    seen: dict[str, int] = {}
    for run in runs:
        seen[run.label] = seen.get(run.label, 0) + 1
    for run in runs:
        if seen[run.label] > 1:
            run.label = f"{run.label} ({run.path})"
    return runs


def parse_radii(text: str) -> list[float]:
    """'0.25,0.5,0.75' -> [0.25, 0.5, 0.75]: non-negative, finite, increasing."""
    try:
        radii = [float(r) for r in text.split(",") if r.strip()]
    except ValueError:
        raise ValueError(f"radii must be comma-separated numbers, got {text!r}") from None
    if not radii or any(not math.isfinite(r) or r < 0 for r in radii) or sorted(set(radii)) != radii:
        raise ValueError(f"radii must be increasing non-negative numbers, got {text!r}")
    return radii


def accuracy_table(runs: Sequence[Run], radii: Sequence[float]) -> np.ndarray:
    """(runs, radii) certified accuracies."""
    return np.array([run.certified_accuracy(radii) for run in runs]).reshape(len(runs), len(radii))


def _best(table: np.ndarray) -> np.ndarray:
    """Cells equal to their column's maximum (the envelope over runs; ties are all marked), in columns where
    the runs differ (a single run, or runs all at 0.00, have no best)."""
    if table.size == 0:
        return np.zeros_like(table, dtype=bool)
    best = np.isclose(table, np.nanmax(table, axis=0, keepdims=True), rtol=0, atol=1e-12)
    return best & ~best.all(axis=0, keepdims=True)


def _radius_text(r: float) -> str:
    return f"{r:g}"


def markdown_table(runs: Sequence[Run], radii: Sequence[float], digits: int = 2) -> str:
    """Certified accuracy at each radius (the best run per radius in bold), then ACR and examples."""
    table = accuracy_table(runs, radii)
    best = _best(table)
    header = ["run"] + [f"r = {_radius_text(r)}" for r in radii] + ["ACR", "examples"]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for i, run in enumerate(runs):
        cells = [f"**{v:.{digits}f}**" if best[i, j] else f"{v:.{digits}f}" for j, v in enumerate(table[i])]
        lines.append("| " + " | ".join([run.label, *cells, f"{run.average_certified_radius():.3f}",
                                        str(len(run.correct))]) + " |")
    return "\n".join(lines)


def latex_table(runs: Sequence[Run], radii: Sequence[float], digits: int = 2) -> str:
    """The same table as a LaTeX tabular (booktabs rules), the best run per radius in \\textbf."""
    table = accuracy_table(runs, radii)
    best = _best(table)
    lines = [r"\begin{tabular}{l" + "c" * len(radii) + "c}", r"\toprule",
             " & ".join([""] + [f"$r = {_radius_text(r)}$" for r in radii] + ["ACR"]) + r" \\", r"\midrule"]
    for i, run in enumerate(runs):
        cells = [rf"\textbf{{{v:.{digits}f}}}" if best[i, j] else f"{v:.{digits}f}" for j, v in enumerate(table[i])]
        lines.append(" & ".join([_latex_escape(run.label), *cells, f"{run.average_certified_radius():.3f}"]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines)


def _latex_escape(text: str) -> str:
    if "$" in text:  # the caller wrote LaTeX (e.g. $\sigma = 0.25$)
        return text
    for char in "\\&%#_{}":
        text = text.replace(char, "\\" + char)
    return text


def plot_certified_accuracy(runs: Sequence[Run], out_png: str, max_radius: float | None = None,
                            envelope: bool = True) -> None:
    """Certified accuracy vs radius, one curve per run and (for several runs) their envelope, in a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top = max_radius
    if top is None:
        top = max([float(r.radius[r.correct].max()) for r in runs if r.correct.any()] or [1.0]) * 1.05
    grid = np.linspace(0.0, top, 400)
    curves = accuracy_table(runs, grid)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for run, curve in zip(runs, curves):
        ax.plot(grid, curve, label=run.label)
    if envelope and len(runs) > 1:
        ax.plot(grid, np.nanmax(curves, axis=0), "k--", linewidth=1, label="best over runs")
    ax.set_xlim(0, top)
    ax.set_ylim(0, 1)
    ax.set_xlabel("radius r")
    ax.set_ylabel("certified accuracy (radius >= r)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_png)
    plt.close(fig)


TABLE_NOTE = ("certified accuracy at r: fraction of all examples classified correctly with certified radius >= r "
              "(abstentions count as wrong); ACR: mean certified radius, 0 for abstentions and errors; "
              "bold: the best run at each radius")
