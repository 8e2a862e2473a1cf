"""Per-example results files of the ``rsmooth`` command: a TSV (one row per example, flushed as it
finishes, with the run's configuration on its first line so a resume can check it), the per-rank shards
of a run under torchrun and their merge, the JSON summary written beside it, and the reading of
certification results as arrays (``Run``) from these files and from Cohen et al.'s TSV (columns idx,
label, predict, radius, correct, time; time in seconds or as H:MM:SS.ffffff)."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..cache import atomic_write
from ..noises import NOISES
from . import statistics

CONFIG_PREFIX = "# rsmooth "
CERTIFY_COLUMNS = ["index", "label", "prediction", "p_lower", "radius", "correct", "seconds"]
PREDICT_COLUMNS = ["index", "label", "prediction", "correct", "seconds"]
COHEN_COLUMNS = ("idx", "label", "predict", "radius", "correct", "time")
_DURATION = re.compile(r"(?:(\d+) days?, )?(\d+):(\d{2}):(\d{2}(?:\.\d+)?)")


class ResultsError(Exception):
    """A results file that cannot be used (missing, from another configuration, malformed)."""


# ---- rsmooth results files ------------------------------------------------------------------------


@dataclass
class Results:
    """A results file as written: its configuration, column names and rows."""

    config: dict
    columns: list[str]
    rows: list[dict]

    def column(self, name: str) -> np.ndarray:
        """One column of every row, as float64."""
        return np.array([row[name] for row in self.rows], dtype=np.float64)


def read_results(path: str) -> Results:
    """Read a results file; a trailing line without a newline (an interrupted write) is ignored."""
    if not os.path.isfile(path):
        raise ResultsError(f"results file {path} does not exist")
    with open(path) as f:
        text = f.read()
    lines = text.split("\n")
    complete = lines[:-1]  # the part after the last newline is incomplete (or empty)
    if not complete or not complete[0].startswith(CONFIG_PREFIX):
        raise ResultsError(f"{path} is not an rsmooth results file (no configuration line)")
    try:
        config = json.loads(complete[0][len(CONFIG_PREFIX):])
    except json.JSONDecodeError as e:
        raise ResultsError(f"{path}: unreadable configuration line ({e})") from None
    if len(complete) < 2:
        raise ResultsError(f"{path} has no header line")
    columns = complete[1].split("\t")
    rows = []
    for number, line in enumerate(complete[2:], start=3):
        values = line.split("\t")
        if len(values) != len(columns):
            raise ResultsError(f"{path}:{number}: expected {len(columns)} columns, got {len(values)}")
        rows.append({c: _parse(v) for c, v in zip(columns, values)})
    return Results(config, columns, rows)


def _parse(value: str):
    try:
        return int(value)
    except ValueError:
        return float(value)


class ResultsWriter:
    """Appends rows to a results file, flushing each one. A new file gets the configuration and header
    lines; ``resume`` continues an existing file (after checking its configuration) and drops a trailing
    incomplete line."""

    def __init__(self, path: str, config: dict, columns: list[str], *, resume: bool):
        self.path, self.columns = path, columns
        self.done: dict[int, dict] = {}
        if resume and os.path.exists(path):
            existing = read_results(path)
            if existing.config != config:
                keys = set(config) | set(existing.config)
                changed = sorted(k for k in keys if config.get(k) != existing.config.get(k))
                raise ResultsError(
                    f"{path} was written by a different configuration ({', '.join(changed)} differ); "
                    "use another --out or drop --resume"
                )
            self.done = {int(row["index"]): row for row in existing.rows}
            self._truncate_incomplete_tail()
            self.file = open(path, "a")
        else:
            if os.path.exists(path):
                raise ResultsError(f"{path} already exists; use --resume to continue it or choose another --out")
            self.file = open(path, "w")
            self.file.write(CONFIG_PREFIX + json.dumps(config, sort_keys=True) + "\n")
            self.file.write("\t".join(columns) + "\n")
            self.file.flush()

    def _truncate_incomplete_tail(self) -> None:
        with open(self.path, "rb+") as f:
            data = f.read()
            end = data.rfind(b"\n") + 1
            if end < len(data):
                f.truncate(end)

    def write(self, row: dict) -> None:
        """Append one row (a dict with every column) and flush it."""
        self.file.write("\t".join(_format(row[c]) for c in self.columns) + "\n")
        self.file.flush()
        self.done[int(row["index"])] = row

    def close(self) -> None:
        self.file.close()


def _format(value) -> str:
    if isinstance(value, float):
        return repr(value)  # round-trips exactly, so a resumed or merged file reads back the same numbers
    return str(value)


# ---- shards of a run under torchrun ---------------------------------------------------------------


def part_path(out: str, rank: int) -> str:
    """The shard of ``rank`` in a run sharded by input."""
    return f"{out}.part{rank}"


def shard_files(out: str) -> list[str]:
    """The per-rank files ``out.part*`` of a run sharded by input."""
    directory = os.path.dirname(os.path.abspath(out))
    prefix = os.path.basename(out) + ".part"
    return sorted(os.path.join(directory, f) for f in os.listdir(directory) if f.startswith(prefix))


def merge_results(out: str, config: dict, columns: list[str]) -> None:
    """Merge ``out`` (if present) and its shards ``out.part*`` into ``out``, one row per index in index
    order, written atomically; the shards are removed afterwards."""
    parts = shard_files(out)
    rows: dict[int, dict] = {}
    for path in ([out] if os.path.exists(out) else []) + parts:
        for row in read_results(path).rows:
            rows.setdefault(int(row["index"]), row)
    lines = [CONFIG_PREFIX + json.dumps(config, sort_keys=True), "\t".join(columns)]
    lines += ["\t".join(_format(rows[i][c]) for c in columns) for i in sorted(rows)]
    atomic_write(out, lambda f: f.write(("\n".join(lines) + "\n").encode()))
    for path in parts:
        os.unlink(path)


# ---- the JSON summary -----------------------------------------------------------------------------


def summary_radii(results: Results) -> list[float]:
    """The radii a run's summary reports: the run's own grid (--sequential --radii), else a round grid up
    to its largest certified radius."""
    if results.config.get("radii"):
        return results.config["radii"]
    n = len(results.rows)
    radius = results.column("radius") if n else np.zeros(0)
    correct = results.column("correct").astype(bool) if n else np.zeros(0, dtype=bool)
    return statistics.default_radius_grid(radius[correct])


def summary(results: Results, radii: list[float] | None = None) -> dict:
    """Examples, clean (smoothed) accuracy, abstention rate and, for certificates, the average certified
    radius and the certified accuracy at each radius (``radii``, default ``summary_radii``); for sequential
    runs, the forward passes per example."""
    n = len(results.rows)
    correct = results.column("correct").astype(bool) if n else np.zeros(0, dtype=bool)
    prediction = results.column("prediction") if n else np.zeros(0)
    out = {
        "examples": n,
        "accuracy": statistics.accuracy(correct),
        "abstention_rate": statistics.abstention_rate(prediction),
    }
    if "radius" in results.columns:
        radius = results.column("radius") if n else np.zeros(0)
        out["average_certified_radius"] = statistics.average_certified_radius(correct, radius)
        grid = radii if radii is not None else summary_radii(results)
        out["certified_accuracy"] = dict(zip((f"{r:g}" for r in grid),
                                             statistics.certified_accuracy(correct, radius, grid).tolist()))
    if "samples" in results.columns:  # sequential runs: n0 selection + the estimation samples each example used
        passes = results.column("samples") + results.config.get("n0", 0) if n else np.zeros(0)
        out["forward_passes"] = {"total": int(passes.sum()), "mean": float(passes.mean()) if n else math.nan,
                                 **{f"q{q}": float(np.quantile(passes, q / 100)) if n else math.nan
                                    for q in (10, 50, 90, 99)}}
    return out


def run_label(config: dict) -> str:
    """A run's name in tables and plots: its noise and level, e.g. 'gaussian sigma=0.25'."""
    noise = config.get("noise", "?")
    level = f"sigma={config['sigma']:g}" if config.get("sigma") is not None else f"lambd={config.get('lambd')}"
    spec = NOISES.get(noise)
    if spec is not None and not spec.scaled:  # no lambda or sigma: name it by its first parameter
        name = spec.parameters[0].name
        level = f"{name}={config.get(name)}"
    return f"{noise} {level}"


# ---- certification results as arrays -------------------------------------------------------------


@dataclass
class Run:
    """One file of certification results: per example, whether it was classified correctly, its certified
    radius and prediction (-1: abstained), and the seconds it took; the adversary when the file says."""

    label: str
    path: str
    correct: np.ndarray
    radius: np.ndarray
    prediction: np.ndarray
    seconds: np.ndarray
    adversary: str | None = None

    def certified_accuracy(self, radii: Sequence[float]) -> np.ndarray:
        """Fraction of examples classified correctly with certified radius >= r, for each r."""
        return statistics.certified_accuracy(self.correct, self.radius, radii)

    def average_certified_radius(self) -> float:
        """Mean over all examples of the radius of correct predictions, 0 for the others."""
        return statistics.average_certified_radius(self.correct, self.radius)

    def abstention_rate(self) -> float:
        """Fraction of examples the smoothed classifier abstained on."""
        return statistics.abstention_rate(self.prediction)


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
        return run_of(read_results(path), path, label)
    return _read_cohen(path, label)


def run_of(results: Results, path: str, label: str | None = None) -> Run:
    """The certification results of a read rsmooth results file (an error for predictions)."""
    if "radius" not in results.columns:
        raise ResultsError(f"{path} holds predictions, not certificates: it has no radius column")
    n = len(results.rows)
    column = (lambda c: results.column(c)) if n else (lambda c: np.zeros(0))
    return Run(label or run_label(results.config), path, column("correct").astype(bool), column("radius"),
               column("prediction").astype(np.int64), column("seconds"), results.config.get("adversary"))


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
