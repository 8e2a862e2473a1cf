"""The GPU check's driver (benchmarks/gpu_check.py), on any machine: the two defects that stopped the
first GPU run before its first CUDA test (a CUDA_HOME guessed from a wrapper nvcc; tests importing the
source tree instead of the installed package), and the pieces of the summary. The whole dry run runs in
CI (.ci/run)."""

import ast
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import pytest
from support import REPO

import rsmooth_ext


def load_driver():
    spec = importlib.util.spec_from_file_location("gpu_check", os.path.join(REPO, "benchmarks", "gpu_check.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def setup_function_namespace(name: str) -> dict:
    """The imports and one function of setup.py, without running setup() (which would build)."""
    tree = ast.parse(open(os.path.join(REPO, "setup.py")).read())
    keep = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
            and not (isinstance(node, ast.ImportFrom) and node.module == "setuptools")]
    keep += [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == name]
    namespace: dict = {}
    exec(compile(ast.Module(body=keep, type_ignores=[]), "setup.py", "exec"), namespace)
    return namespace


def test_build_env_leaves_cuda_home_to_the_setup_probe():
    gpu_check = load_driver()
    run = gpu_check.Run(sys.executable, "/nonexistent", "/nonexistent", True, 60)
    run.facts["capability"] = "9.0"
    env = gpu_check.build_env(run, {"PATH": "/usr/bin", "RSMOOTH_FORCE_CPU": "1"})
    assert "CUDA_HOME" not in env  # the old script exported dirname(dirname(nvcc)) here
    assert env["FORCE_CUDA"] == "1" and "RSMOOTH_FORCE_CPU" not in env
    assert env["TORCH_CUDA_ARCH_LIST"] == "9.0" and int(env["MAX_JOBS"]) >= 1
    user = gpu_check.build_env(run, {"CUDA_HOME": "/opt/cuda", "TORCH_CUDA_ARCH_LIST": "8.0", "MAX_JOBS": "3"})
    assert (user["CUDA_HOME"], user["TORCH_CUDA_ARCH_LIST"], user["MAX_JOBS"]) == ("/opt/cuda", "8.0", "3")


@pytest.mark.integration  # runs nvcc
@pytest.mark.skipif(shutil.which("nvcc") is None, reason="needs nvcc on PATH")
def test_setup_probe_finds_the_toolkit_behind_a_wrapper_nvcc(tmp_path, monkeypatch):
    """A wrapper script named nvcc outside the toolkit (as on this project's machines and the GPU image):
    dirname(dirname(nvcc)) has no CUDA headers, setup.py's probe asks nvcc for its TOP and finds them."""
    real = os.path.realpath(shutil.which("nvcc"))
    bindir = tmp_path / "wrapper" / "bin"
    bindir.mkdir(parents=True)
    wrapper = bindir / "nvcc"
    wrapper.write_text(f'#!/bin/sh\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("CUDA_HOME", raising=False)
    monkeypatch.delenv("CUDA_PATH", raising=False)
    guessed = os.path.dirname(os.path.dirname(shutil.which("nvcc")))
    assert guessed == str(tmp_path / "wrapper")
    assert not os.path.exists(os.path.join(guessed, "include", "cuda_runtime_api.h"))  # the old defect
    setup_function_namespace("_locate_cuda_home")["_locate_cuda_home"]()
    found = os.environ.get("CUDA_HOME")
    assert found and os.path.exists(os.path.join(found, "include", "cuda_runtime_api.h")), found


@pytest.mark.integration  # subprocesses
def test_installed_import_never_imports_the_source_tree(tmp_path):
    """The check imports the package it installed, from a directory outside the repository. From the
    repository root, `python -c` / `python -m` put the source tree (which has no built _C) first on
    sys.path: that is what stopped the old script, and the probe refuses it."""
    gpu_check = load_driver()
    package = os.path.dirname(rsmooth_ext.__file__)
    site = tmp_path / "site"
    shutil.copytree(package, site / "rsmooth_ext", ignore=shutil.ignore_patterns("__pycache__"))
    rundir = tmp_path / "run"
    rundir.mkdir()
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    result = gpu_check.installed_import(sys.executable, str(site), str(rundir), env)
    assert result["file"].startswith(str(site))
    assert result["build_info"]["cpu"] is True
    with pytest.raises(RuntimeError):  # from the repository root: the source tree, or an ImportError
        gpu_check.installed_import(sys.executable, str(site), REPO, env)


@pytest.mark.integration  # a pytest subprocess
def test_pytest_command_selects_the_cuda_tests():
    gpu_check = load_driver()
    run = gpu_check.Run(sys.executable, "/nonexistent", "/nonexistent", True, 60)
    cmd = gpu_check.pytest_command(run, "--collect-only")
    assert any(a == "-m" and b == "cuda" for a, b in zip(cmd, cmd[1:])) and os.path.join(REPO, "tests") in cmd
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(rsmooth_ext.__file__)))
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=os.path.dirname(REPO), env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    summary_line = [line for line in proc.stdout.splitlines() if "collected" in line][-1]
    selected = int(summary_line.split("/")[0].split()[0])
    assert selected >= 20  # tests/ops/test_cuda.py and every DEVICES-parametrized test's CUDA instance


def test_summary_pieces(tmp_path):
    gpu_check = load_driver()
    junit = tmp_path / "junit.xml"
    junit.write_text('<testsuites><testsuite><testcase classname="tests.test_cuda" name="test_a"/>'
                     '<testcase classname="tests.test_cuda" name="test_b"><failure message="x"/></testcase>'
                     '<testcase classname="tests.test_cuda" name="test_c"><skipped/></testcase>'
                     '</testsuite></testsuites>')
    assert gpu_check.parse_junit(str(junit)) == {"tests.test_cuda::test_a": "passed",
                                                "tests.test_cuda::test_b": "failed",
                                                "tests.test_cuda::test_c": "skipped"}
    records = tmp_path / "ulp.jsonl"
    records.write_text("\n".join(json.dumps(r) for r in [{"family": "exp2", "dtype": "float32", "max_ulp": 3},
                                                          {"family": "exp2", "dtype": "float32", "max_ulp": 5},
                                                          {"family": "gaussian", "dtype": "bfloat16", "max_ulp": 0}]))
    assert gpu_check.read_ulp_records(str(records)) == {"exp2/float32": 5, "gaussian/bfloat16": 0}
    log = tmp_path / "tests.log"
    log.write_text("tests/test_cuda.py::test_a\n\n31/480 tests collected (449 deselected) in 2.1s\n")
    assert gpu_check._count_collected(str(log)) == 31
    run = gpu_check.Run(sys.executable, str(tmp_path), str(tmp_path / "work"), True, 60)
    run.record("build", "passed", 0, 12.0, "archs 9.0")
    summary = gpu_check.write_summary(run)
    assert json.load(open(tmp_path / "summary.json"))["steps"][0]["step"] == "build"
    assert "| build | passed | 0 | 12.0 | archs 9.0 |" in gpu_check.markdown(summary)
