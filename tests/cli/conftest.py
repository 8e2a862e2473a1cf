"""Fixtures of the rsmooth command's tests: a working directory with a tiny model factory and data."""

import textwrap

import numpy as np
import pytest
import torch

from rsmooth_ext.cli.results import read_results

MODEL_SOURCE = textwrap.dedent(
    """
    import torch

    def make():
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))

    def broken():
        raise RuntimeError("no such weights")
    """
)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """tmp_path as the working directory, holding climodel.py (a 12 -> 3 linear model), six examples in
    data.pt and data.npz, and the model's weights in w.pt."""
    (tmp_path / "climodel.py").write_text(MODEL_SOURCE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 3, 2, 2, generator=g)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    torch.save({"inputs": x, "labels": y}, tmp_path / "data.pt")
    np.savez(tmp_path / "data.npz", x=x.numpy(), y=y.numpy())
    torch.save(__import__("climodel").make().state_dict(), tmp_path / "w.pt")
    return tmp_path


@pytest.fixture
def base():
    """The tiny run's options: the workdir model and data, small n0 and n."""
    return ["--model", "climodel:make", "--data", "data.pt", "--n0", "20", "--n", "100", "--batch-size", "64",
            "--quiet", "--sigma", "0.3"]


@pytest.fixture
def rows_without_time():
    """A results file's rows without their timings (what must agree between runs)."""
    return lambda path: [{k: v for k, v in r.items() if k != "seconds"} for r in read_results(str(path)).rows]


# Cohen's certify.py rows: idx, label, predict (-1 abstains), radius ({:.3}), correct, time (str(timedelta))
COHEN_SIGMA_025 = """idx\tlabel\tpredict\tradius\tcorrect\ttime
0\t3\t3\t0.3\t1\t0:00:15.400000
20\t7\t-1\t0.0\t0\t0:00:15.600000
40\t4\t4\t0.6\t1\t0:00:15.700000
60\t7\t1\t0.9\t0\t0:00:15.800000
80\t8\t8\t0.5\t1\t0:00:15.900000
"""
# certified at r (correct and radius >= r): r=0.25 -> rows 0, 40, 80 (3/5); r=0.5 -> 40 and 80 (0.5 >= 0.5);
# r=0.75 -> none (the 0.9 row is misclassified); ACR = (0.3 + 0.6 + 0.5) / 5 = 0.28
COHEN_SIGMA_050 = """idx\tlabel\tpredict\tradius\tcorrect\ttime
0\t3\t3\t0.2\t1\t15.4
20\t7\t7\t0.8\t1\t15.6
40\t4\t-1\t0.0\t0\t15.7
60\t7\t7\t1.1\t1\t15.8
"""
# r=0.25 -> 2/4, r=0.5 -> 2/4, r=0.75 -> 2/4; ACR = (0.2 + 0.8 + 1.1) / 4 = 0.525


@pytest.fixture
def cohen_files(tmp_path):
    """Two of Cohen's certify.py outputs (sigma 0.25 and 0.50) with known tables."""
    (tmp_path / "sigma_0.25").write_text(COHEN_SIGMA_025)
    (tmp_path / "sigma_0.50").write_text(COHEN_SIGMA_050)
    return [str(tmp_path / "sigma_0.25"), str(tmp_path / "sigma_0.50")]
