"""Per-example results files of the ``rsmooth`` command: a TSV (one row per example, flushed as it
finishes, with the run's configuration on its first line so a resume can check it), a JSON summary,
certified-accuracy tables and plots."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

import numpy as np

CONFIG_PREFIX = "# rsmooth "
CERTIFY_COLUMNS = ["index", "label", "prediction", "p_lower", "radius", "correct", "seconds"]
PREDICT_COLUMNS = ["index", "label", "prediction", "correct", "seconds"]


class ResultsError(Exception):
    """A results file that cannot be used (missing, from another configuration, malformed)."""


@dataclass
class Results:
    config: dict
    columns: list[str]
    rows: list[dict]

    def column(self, name: str) -> np.ndarray:
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

    def _truncate_incomplete_tail(self):
        with open(self.path, "rb+") as f:
            data = f.read()
            end = data.rfind(b"\n") + 1
            if end < len(data):
                f.truncate(end)

    def write(self, row: dict) -> None:
        self.file.write("\t".join(_format(row[c]) for c in self.columns) + "\n")
        self.file.flush()
        self.done[int(row["index"])] = row

    def close(self):
        self.file.close()


def _format(value) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


def shard_files(out: str) -> list[str]:
    """The per-rank files ``out.part*`` of a run sharded by input."""
    directory = os.path.dirname(os.path.abspath(out))
    prefix = os.path.basename(out) + ".part"
    return sorted(os.path.join(directory, f) for f in os.listdir(directory) if f.startswith(prefix))


def merge_results(out: str, config: dict, columns: list[str]) -> None:
    """Merge ``out`` (if present) and its shards ``out.part*`` into ``out``, one row per index in index
    order, written atomically; the shards are removed afterwards."""
    from .cache import atomic_write

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


def summary(results: Results, radii: list[float] | None = None) -> dict:
    """Certified accuracy at each radius, abstention rate, clean (smoothed) accuracy and the average
    certified radius (radius of correct predictions, 0 otherwise, averaged over all examples)."""
    n = len(results.rows)
    correct = results.column("correct").astype(bool) if n else np.zeros(0, dtype=bool)
    prediction = results.column("prediction") if n else np.zeros(0)
    out = {
        "examples": n,
        "accuracy": float(correct.mean()) if n else math.nan,
        "abstention_rate": float((prediction == -1).mean()) if n else math.nan,
    }
    if "radius" in results.columns:
        radius = results.column("radius") if n else np.zeros(0)
        certified = np.where(correct, radius, 0.0)
        out["average_certified_radius"] = float(certified.mean()) if n else math.nan
        grid = radii if radii is not None else results.config.get("radii") or default_radius_grid(
            radius[correct] if n else radius)
        out["certified_accuracy"] = {
            f"{r:g}": float(((certified >= r) & correct).mean()) if n else math.nan for r in grid
        }
    if "samples" in results.columns:  # sequential runs: n0 selection + the estimation samples each example used
        passes = results.column("samples") + results.config.get("n0", 0) if n else np.zeros(0)
        out["forward_passes"] = {"total": int(passes.sum()), "mean": float(passes.mean()) if n else math.nan,
                                 **{f"q{q}": float(np.quantile(passes, q / 100)) if n else math.nan
                                    for q in (10, 50, 90, 99)}}
    return out


def default_radius_grid(radii: np.ndarray, steps: int = 6) -> list[float]:
    top = float(radii.max()) if radii.size else 1.0
    if top <= 0:
        top = 1.0
    step = _nice_step(top / steps)
    return [round(i * step, 10) for i in range(steps + 1)]


def _nice_step(x: float) -> float:
    exponent = math.floor(math.log10(x))
    for m in (1, 2, 2.5, 5, 10):
        if m * 10**exponent >= x:
            return m * 10**exponent
    return 10 ** (exponent + 1)


def markdown_table(label_to_summary: dict[str, dict]) -> str:
    """One row per results file: accuracy, abstention, ACR and certified accuracy at each radius."""
    radii = sorted({float(r) for s in label_to_summary.values() for r in s.get("certified_accuracy", {})})
    header = ["run", "examples", "accuracy", "abstain", "ACR"] + [f"r={r:g}" for r in radii]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, s in label_to_summary.items():
        ca = s.get("certified_accuracy", {})
        cells = [label, str(s["examples"]), f"{s['accuracy']:.3f}", f"{s['abstention_rate']:.3f}",
                 f"{s.get('average_certified_radius', math.nan):.3f}"]
        cells += [f"{ca[f'{r:g}']:.3f}" if f"{r:g}" in ca else "" for r in radii]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_label(config: dict) -> str:
    noise = config.get("noise", "?")
    level = f"sigma={config['sigma']:g}" if config.get("sigma") is not None else f"lambd={config.get('lambd')}"
    if noise == "masking":
        level = f"keep={config.get('keep')}"
    return f"{noise} {level}"


def plot_certified_accuracy(paths: list[str], out_png: str) -> dict[str, dict]:
    """Certified accuracy vs radius of each results file, one curve each, in one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    summaries = {}
    for path in paths:
        results = read_results(path)
        if "radius" not in results.columns:
            raise ResultsError(f"{path} holds predictions, not certificates: nothing to plot")
        label = run_label(results.config)
        if label in summaries:
            label = f"{label} ({os.path.basename(path)})"
        correct = results.column("correct").astype(bool)
        radius = np.where(correct, results.column("radius"), 0.0)
        top = max(float(radius.max()) if radius.size else 0.0, 1e-9)
        grid = np.linspace(0.0, top * 1.05, 400)
        curve = [((radius >= r) & correct).mean() if radius.size else 0.0 for r in grid]
        adversary = results.config.get("adversary", "")
        ax.plot(grid, curve, label=label)
        ax.set_xlabel(f"radius ({adversary})" if adversary else "radius")
        summaries[label] = summary(results)
    ax.set_ylabel("certified accuracy")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_png)
    plt.close(fig)
    return summaries
