"""The suite's own selection, in pytest subprocesses: without the optional test dependencies (hypothesis,
mpmath) collection still succeeds and only the modules that need them are skipped; the GPU check's CUDA
selection survives a test module that fails to import, and names it."""

import importlib.util
import os
import re
import subprocess
import sys

import pytest
from support import REPO

import rsmooth_ext

# the package under test, wherever it is installed (the source tree has no built _C in a fresh clone)
PACKAGE_ROOT = os.path.dirname(os.path.dirname(rsmooth_ext.__file__))
pytestmark = pytest.mark.integration  # pytest subprocesses: ~15 s

OPTIONAL = ("hypothesis", "mpmath")

# A sitecustomize that makes `import hypothesis` / `import mpmath` raise ModuleNotFoundError (None in sys.modules),
# as where they are not installed. torch needs sympy, and sympy needs mpmath, so an environment with torch
# always has mpmath: sympy (and torchvision, which imports it lazily) are imported first, so that only the
# test code loses mpmath.
BLOCKER = f"""
import sys
for name in ("sympy", "torchvision"):
    try:
        __import__(name)
    except ImportError:
        pass
sys.modules.update(dict.fromkeys({OPTIONAL!r}))
"""


def collect(cwd, *pythonpath: str, **env: str) -> subprocess.CompletedProcess:
    """`pytest --collect-only` of the whole suite, run from ``cwd`` (not the repository root: `python -m` puts
    the working directory first on sys.path)."""
    cmd = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-rs", "-p", "no:cacheprovider",
           os.path.join(REPO, "tests")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([*pythonpath, PACKAGE_ROOT]), **env)
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def files_of(listing: str) -> dict[str, set[str]]:
    """{test file: its collected test ids} from a `pytest --collect-only -q` listing."""
    out: dict[str, set[str]] = {}
    for line in listing.splitlines():
        if "::" in line and not line.startswith(" "):
            out.setdefault(line.split("::", 1)[0], set()).add(line)
    return out


def needs_optional(path: str) -> bool:
    """Whether a test file imports one of OPTIONAL (itself, or through the mpmath oracle of tests/support)."""
    source = open(os.path.join(REPO, path)).read()
    names = "|".join(OPTIONAL)
    return bool(re.search(rf"importorskip\(\"({names})[.\"]|^(import|from) ({names})\b|support\.mpmath_oracle",
                          source, flags=re.MULTILINE))


def test_collection_without_hypothesis_and_mpmath_skips_only_the_modules_that_need_them(tmp_path):
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(BLOCKER)
    # PYTEST_DISABLE_PLUGIN_AUTOLOAD: hypothesis's own pytest plugin would not be installed either
    blocked = collect(tmp_path, str(shim), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    assert blocked.returncode == 0, blocked.stdout[-3000:] + blocked.stderr[-3000:]
    assert "error" not in blocked.stdout.splitlines()[-1].lower(), blocked.stdout[-3000:]
    assert "could not import 'mpmath'" in blocked.stdout, blocked.stdout[-3000:]

    full = collect(tmp_path)
    assert full.returncode == 0, full.stdout[-3000:] + full.stderr[-3000:]
    with_all, without = files_of(full.stdout), files_of(blocked.stdout)
    skipped = {path for path in with_all if path not in without}
    assert skipped, "no test module needs hypothesis or mpmath: this check has nothing left to check"
    assert skipped == {path for path in with_all if needs_optional(path)}
    for path, ids in without.items():  # every other module keeps every test
        assert ids == with_all[path], path


def load_gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", os.path.join(REPO, "benchmarks", "gpu_check.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_check_selection_survives_a_module_that_fails_to_import(tmp_path, monkeypatch):
    """The GPU check's own tests step (dry run: collect only) over a tree where one module cannot import:
    the CUDA test of the other module is still selected, and the summary names the broken file."""
    gpu_check = load_gpu_check()
    fake_repo = tmp_path / "repo"
    (fake_repo / "tests").mkdir(parents=True)
    (fake_repo / "tests" / "test_broken.py").write_text("import no_such_module_for_this_check  # noqa: F401\n")
    kernels = "import pytest\n\n\n@pytest.mark.cuda\ndef test_on_the_gpu():\n    pass\n\n\ndef test_cpu():\n    pass\n"
    (fake_repo / "tests" / "test_kernels.py").write_text(kernels)
    (fake_repo / "pyproject.toml").write_text('[tool.pytest.ini_options]\nmarkers = ["cuda: needs a GPU"]\n')
    monkeypatch.setattr(gpu_check, "REPO", str(fake_repo))
    out = tmp_path / "out"
    out.mkdir()
    run = gpu_check.Run(sys.executable, str(out), str(tmp_path / "work"), True, 240)
    gpu_check.tests(run)
    step = run.steps[-1]
    log = (out / "tests.log").read_text()
    assert run.facts["cuda_tests_selected"] == 1, log[-3000:]
    assert run.facts["collection_errors"] == ["tests/test_broken.py"], log[-3000:]
    assert step["status"] == "failed" and "failed to collect: tests/test_broken.py" in step["note"], step
    summary = gpu_check.write_summary(run)
    assert summary["collection_errors"] == ["tests/test_broken.py"]
    assert "failed to collect (their tests did not run): tests/test_broken.py" in gpu_check.markdown(summary)
