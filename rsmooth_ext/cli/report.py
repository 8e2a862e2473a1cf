"""Cohen et al.'s presentation of certification results, one implementation each: the certified-accuracy
table at given radii (Markdown and LaTeX, one row per run, the best run at each radius marked, then the
ACR) and the certified-accuracy curves of several runs with their envelope (the best over runs, e.g. over
sigma). ``rsmooth certify`` prints the table at the end of a run; ``rsmooth analyze`` (and its alias
``plot``) writes all three. The statistics are those of ``statistics`` and keep its conventions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .results import Run

TABLE_NOTE = ("certified accuracy at r: fraction of all examples classified correctly with certified radius >= r "
              "(abstentions count as wrong); ACR: mean certified radius, 0 for abstentions and errors; "
              "bold: the best run at each radius")


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


def largest_certified_radius(runs: Sequence[Run]) -> float:
    """The largest radius certified for a correct prediction in any run (1 where none is)."""
    return max([float(r.radius[r.correct].max()) for r in runs if r.correct.any()] or [1.0])


def plot_certified_accuracy(runs: Sequence[Run], out_png: str, max_radius: float | None = None,
                            envelope: bool = True) -> None:
    """Certified accuracy vs radius, one curve per run and (for several runs) their envelope, in a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top = max_radius if max_radius is not None else largest_certified_radius(runs) * 1.05
    grid = np.linspace(0.0, top, 400)
    curves = accuracy_table(runs, grid)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for run, curve in zip(runs, curves):
        ax.plot(grid, curve, label=run.label)
    if envelope and len(runs) > 1:
        ax.plot(grid, np.nanmax(curves, axis=0), "k--", linewidth=1, label="best over runs")
    adversaries = {run.adversary for run in runs}
    adversary = adversaries.pop() if len(adversaries) == 1 else None  # named on the axis when the runs share it
    ax.set_xlim(0, top)
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"radius r ({adversary})" if adversary else "radius r")
    ax.set_ylabel("certified accuracy (radius >= r)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_png)
    plt.close(fig)


# ---- empirical robustness (rsmooth attack) and the soundness check --------------------------------

EMPIRICAL_NOTE = ("empirical robust accuracy at eps: fraction of all attacked examples whose smoothed prediction "
                  "(PREDICT) on the adversarial input is their label (abstentions count as wrong); an upper bound on "
                  "the true robust accuracy, as certified accuracy is a lower one")


def empirical_table(empirical: dict, norm: str, digits: int = 3) -> str:
    """Empirical robust accuracy and abstention rate per eps (``empirical``: eps text -> summary entry)."""
    lines = [f"| eps ({norm}) | empirical robust accuracy | abstained | examples |", "|---:|---:|---:|---:|"]
    for eps, entry in empirical.items():
        lines.append(f"| {eps} | {entry['robust_accuracy']:.{digits}f} | {entry['abstention_rate']:.{digits}f} | "
                     f"{entry['examples']} |")
    return "\n".join(lines)


SOUNDNESS_NOTE = ("alarm: certified at radius >= eps for class c, yet PREDICT gives another class on the attacked "
                  "input; if the certificates hold, each example alarms with probability at most alpha_certify + "
                  "alpha_predict, so the count is below Binomial(examples, that rate); p: P(that binomial >= alarms); "
                  "UNSOUND when p < level / (number of eps) (Bonferroni)")


def soundness_table(certified_accuracy: Sequence[float], robust_accuracy: Sequence[float], checks, norm: str,
                    digits: int = 3) -> str:
    """Certified accuracy beside empirical robust accuracy per eps, with the soundness check of each eps."""
    lines = [f"| eps ({norm}) | certified accuracy | empirical robust accuracy | certified | alarms | "
             "abstained on attack | alarms allowed (mean) | p | verdict |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for c, e, check in zip(certified_accuracy, robust_accuracy, checks):
        verdict = "**UNSOUND**" if check.exceeds else "ok"
        lines.append(f"| {check.eps:g} | {c:.{digits}f} | {e:.{digits}f} | {check.certified} | {check.alarms} | "
                     f"{check.abstained} | {check.expected:.3g} | {check.pvalue:.3g} | {verdict} |")
    return "\n".join(lines)
