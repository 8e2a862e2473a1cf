"""The certified-accuracy tables (Markdown, LaTeX) and plot: one implementation for certify, analyze and plot."""

from rsmooth_ext.cli.report import latex_table, markdown_table, plot_certified_accuracy
from rsmooth_ext.cli.results import read_runs


def test_tables_mark_the_best_run_at_each_radius(cohen_files):
    runs = read_runs(cohen_files, ["$\\sigma = 0.25$", "$\\sigma = 0.50$"])
    md = markdown_table(runs, [0.25, 0.5, 0.75]).splitlines()
    assert md[0] == "| run | r = 0.25 | r = 0.5 | r = 0.75 | ACR | examples |"
    assert md[2] == "| $\\sigma = 0.25$ | **0.60** | 0.40 | 0.00 | 0.280 | 5 |"
    assert md[3] == "| $\\sigma = 0.50$ | 0.50 | **0.50** | **0.50** | 0.525 | 4 |"
    tex = latex_table(runs, [0.25, 0.5, 0.75]).splitlines()
    assert tex[0] == "\\begin{tabular}{lcccc}" and tex[2] == " & $r = 0.25$ & $r = 0.5$ & $r = 0.75$ & ACR \\\\"
    assert tex[4] == "$\\sigma = 0.25$ & \\textbf{0.60} & 0.40 & 0.00 & 0.280 \\\\"
    assert tex[5] == "$\\sigma = 0.50$ & 0.50 & \\textbf{0.50} & \\textbf{0.50} & 0.525 \\\\"
    assert tex[-1] == "\\end{tabular}"
    single = markdown_table(runs[:1], [0.25, 0.5]).splitlines()
    assert single[2] == "| $\\sigma = 0.25$ | 0.60 | 0.40 | 0.280 | 5 |"  # one run: nothing to mark


def test_plot_writes_a_png_with_the_envelope(tmp_path, cohen_files):
    plot_certified_accuracy(read_runs(cohen_files), str(tmp_path / "p.png"))
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
