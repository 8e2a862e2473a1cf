"""The GPU check: build, CUDA tests and CUDA benchmarks of rsmooth_ext in one call, with one summary.

Meant for a rarely lent GPU machine (often offline, a few minutes of device time): every step has its own
time limit, records its exit code and lets the next step run after a failure, and the whole run stays
within ``--budget`` seconds (default 480). Steps:

  prerequisites  python, torch (a CUDA build), nvcc, ninja, pytest, numpy, scipy; names what is missing
                 (installs nothing)
  prebuilt       with --prebuilt DIR: a package built elsewhere for this machine's Python, torch and GPU, used
                 when it imports with its CUDA kernels (the build step is skipped then)
  build          pip install --no-build-isolation --no-deps --no-index --target WORK/site . with
                 FORCE_CUDA=1, TORCH_CUDA_ARCH_LIST = the visible GPU's arch, MAX_JOBS = the core count;
                 CUDA_HOME is left to setup.py's nvcc probe unless you set it
  import         the *installed* package, from a directory outside the source tree
  tests          the CUDA tests (pytest -m cuda) against the installed package, under CUDA_LAUNCH_BLOCKING=1;
                 they record the CPU-vs-CUDA differences (max ulp per family and dtype); a test file that
                 fails to import does not stop the others (the summary lists it: collection_errors)
  sampling ..    the benchmarks (below), then the sanitizer: what a short lease must not miss comes first
  memcheck       compute-sanitizer memcheck on a small workload (every kernel), where the tool works
  racecheck      compute-sanitizer racecheck on the radial and counting kernels
  sampling       benchmarks/bench_sampling.py --device cuda: every registered family's examples in float32 at
                 CIFAR and ImageNet shapes (sampling_layouts: one per kind, bfloat16 and channels_last too),
                 kernel-only CUDA-event times, bytes moved and the fraction of a device-to-device copy's bandwidth
  counting       benchmarks/bench_counting.py --device cuda: argmax_count_ vs argmax + bincount
  certify        benchmarks/bench_certify.py --device cuda: end to end vs the Cohen-style loop
  attack         benchmarks/bench_attack.py --device cuda: an attack step on ResNet-20 (m = 8) vs the anchors' way
  train          benchmarks/bench_train.py --device cuda: a training step of each method (batch 256) vs the anchors'
  syncs          benchmarks/cuda_syncs.py: the host reads (synchronising calls) of certify, an attack, a training step

``--dry-run`` (automatic when no GPU is visible) runs what needs no GPU: the prerequisite checks, the build
with FORCE_CUDA=1 (compile only), the import of the installed package, the test selection (collect only:
at least one CUDA test must be selected) and tiny CPU runs of the benchmark scripts, then the summary.

Output: $OUT when set (else --out, else benchmarks/results/gpu-<UTC date>/): summary.json, build.log,
tests.log, sanitizer.log, benchmarks.log, junit.xml (at most 8 files); a Markdown table is printed last.

    bash benchmarks/gpu_check.sh                 # on the GPU machine
    bash benchmarks/gpu_check.sh --dry-run       # anywhere (CI runs this)
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(REPO, "benchmarks")
REQUIRED_MODULES = ("torch", "numpy", "scipy", "pytest", "setuptools", "wheel")
ULP_RECORD_ENV = "RSMOOTH_GPU_CHECK_RECORD"  # the CUDA tests append their max-ulp records to this file


class Run:
    """The state of one check: where it writes, how much time is left, what each step gave."""

    def __init__(self, python: str, out: str, work: str, dry_run: bool, budget_s: float):
        self.python, self.out, self.work, self.dry_run = python, out, work, dry_run
        self.site = os.path.join(work, "site")
        self.rundir = os.path.join(work, "run")  # cwd of every test / benchmark: not the source tree
        os.makedirs(self.rundir, exist_ok=True)
        self.deadline = time.monotonic() + budget_s
        self.steps: list[dict] = []
        self.facts: dict = {}

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def log_path(self, name: str) -> str:
        return os.path.join(self.out, name)

    def record(self, name: str, status: str, rc, seconds: float, note: str = "") -> dict:
        step = {"step": name, "status": status, "rc": rc, "seconds": round(seconds, 1), "note": note}
        self.steps.append(step)
        print(f"[gpu_check] {name}: {status} (rc={rc}, {seconds:.1f} s){' - ' + note if note else ''}", flush=True)
        return step

    def run_step(self, name: str, cmd: list[str], *, timeout_s: float, log: str, env: dict | None = None,
                 cwd: str | None = None, ok_codes=(0,)) -> dict:
        """Run ``cmd`` with its own time limit (capped by what is left of the budget), appending its output to
        ``log``; never raises."""
        limit = min(timeout_s, self.remaining() - 15.0)
        if limit < 5:
            return self.record(name, "skipped", None, 0.0, "out of time budget")
        start = time.monotonic()
        with open(self.log_path(log), "a") as f:
            f.write(f"\n===== {name}: {' '.join(cmd)} (limit {limit:.0f} s)\n")
            f.flush()
            try:
                proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=cwd or self.rundir,
                                      timeout=limit)
                rc = proc.returncode
                status = "passed" if rc in ok_codes else "failed"
                note = ""
            except subprocess.TimeoutExpired:
                rc, status, note = None, "timeout", f"killed after {limit:.0f} s"
            except OSError as e:
                rc, status, note = None, "failed", f"cannot run {cmd[0]}: {e}"
            f.write(f"===== {name}: {status} rc={rc}\n")
        return self.record(name, status, rc, time.monotonic() - start, note)

    def installed_env(self, **extra) -> dict:
        """The environment of a process that must import the installed package (never the source tree)."""
        env = dict(os.environ)
        env["PYTHONPATH"] = self.site + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["PYTHONUNBUFFERED"] = "1"
        env.update({k: str(v) for k, v in extra.items()})
        return env


# ---- what the machine has ---------------------------------------------------------------------------


PROBE_TEMPLATE = r"""
import json, platform, sys
info = {"python": platform.python_version(), "executable": sys.executable, "missing": []}
for name in REQUIRED_MODULES:
    try:
        module = __import__(name)
        info[name] = getattr(module, "__version__", "?")
    except Exception as e:
        info["missing"].append(f"{name} ({type(e).__name__})")
try:
    import torch
    info["torch_cuda"] = torch.version.cuda
    info["gpu"] = torch.cuda.is_available()
    if info["gpu"]:
        p = torch.cuda.get_device_properties(0)
        info["device_name"] = p.name
        info["sm_count"] = p.multi_processor_count
        info["capability"] = f"{p.major}.{p.minor}"
        info["memory_gb"] = round(p.total_memory / 2**30, 1)
except Exception as e:
    info["gpu"] = False
    info["torch_error"] = repr(e)
print(json.dumps(info))
"""
PROBE = PROBE_TEMPLATE.replace("REQUIRED_MODULES", repr(REQUIRED_MODULES), 1)


def _output(cmd: list[str], timeout: float = 30.0) -> str | None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def check_prerequisites(run: Run, want_dry_run: bool) -> bool:
    """Record what the machine has; return whether a build can be attempted. Sets run.dry_run when no GPU."""
    start = time.monotonic()
    raw = _output([run.python, "-c", PROBE], timeout=120)
    info = json.loads(raw) if raw else {"missing": [f"python {run.python} (cannot run)"], "gpu": False}
    missing = list(info.get("missing", []))
    if info.get("torch") and not info.get("torch_cuda"):
        missing.append("a CUDA build of torch (torch.version.cuda is None)")
    nvcc = shutil.which("nvcc")
    nvcc_version = _output(["nvcc", "--version"]) if nvcc else None
    if not nvcc_version:
        missing.append("nvcc (not on PATH)")
    if not shutil.which("ninja") and not _output([run.python, "-c", "import ninja"]):
        missing.append("ninja")
    smi = _output(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"])
    sanitizer = shutil.which("compute-sanitizer")
    commit = _output(["git", "-C", REPO, "rev-parse", "HEAD"])
    dirty = _output(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"])
    run.facts.update({
        "python": info.get("python"), "python_executable": info.get("executable"), "torch": info.get("torch"),
        "torch_cuda": info.get("torch_cuda"), "numpy": info.get("numpy"), "scipy": info.get("scipy"),
        "nvcc": nvcc_version.splitlines()[-1] if nvcc_version else None, "nvcc_path": nvcc,
        "nvidia_smi": smi, "driver": smi.split(",")[1].strip() if smi and "," in smi else None,
        "device_name": info.get("device_name"), "sm_count": info.get("sm_count"),
        "capability": info.get("capability"), "memory_gb": info.get("memory_gb"),
        "compute_sanitizer": sanitizer, "git_commit": commit, "git_dirty": bool(dirty), "cpu_count": os.cpu_count(),
        "missing": missing,
    })
    run.dry_run = want_dry_run or not info.get("gpu")
    note = ("missing: " + "; ".join(missing)) if missing else "all present"
    if not info.get("gpu") and not want_dry_run:
        note += "; no GPU visible: dry run"
    run.record("prerequisites", "failed" if missing else "passed", 1 if missing else 0, time.monotonic() - start,
               note)
    return not missing


# ---- build and import ---------------------------------------------------------------------------


def build_env(run: Run, environ: dict | None = None) -> dict:
    """The build's environment: FORCE_CUDA=1, the visible GPU's arch (the user's TORCH_CUDA_ARCH_LIST
    wins; a dry run without one builds for sm_90, the lent H200s), MAX_JOBS from the core count. CUDA_HOME
    is passed through only if the user set it: setup.py asks nvcc where its toolkit is, which is right
    where nvcc is a wrapper script (dirname(dirname(nvcc)) is not the toolkit then)."""
    env = dict(os.environ if environ is None else environ)
    env["FORCE_CUDA"] = "1"
    env.pop("RSMOOTH_FORCE_CPU", None)
    if not env.get("TORCH_CUDA_ARCH_LIST"):
        env["TORCH_CUDA_ARCH_LIST"] = run.facts.get("capability") or "9.0"
    env.setdefault("MAX_JOBS", str(os.cpu_count() or 1))
    return env


def build_command(run: Run, have_pip: bool) -> list[str]:
    """pip install into the scratch site directory; without pip, setup.py build with the same result there
    (the package and its built _C module under WORK/site)."""
    if have_pip:
        return [run.python, "-m", "pip", "install", "--no-build-isolation", "--no-deps", "--no-index",
                "--no-compile", "-v", "--target", run.site, REPO]
    return [run.python, "setup.py", "build", "--build-base", os.path.join(run.work, "build"), "--build-lib",
            run.site]


def _shown(path: str) -> str:
    """A path as the summary records it: relative to the repository when inside it (no machine's paths in a
    committed summary), else its last component."""
    rel = os.path.relpath(path, REPO)
    return rel if not rel.startswith("..") else os.path.basename(path)


def use_prebuilt(run: Run, prebuilt: str) -> bool:
    """Copy a package built elsewhere (``pip install --target DIR .`` against this machine's Python and torch,
    with FORCE_CUDA=1 for this GPU's arch) into the scratch site and keep it if it imports with its CUDA
    kernels; otherwise the build step runs as usual. Saves the build's minutes of a short lease."""
    start = time.monotonic()
    shutil.rmtree(run.site, ignore_errors=True)
    try:
        shutil.copytree(prebuilt, run.site)
        result = installed_import(run.python, run.site, run.rundir)
        ok = bool(result["build_info"].get("cuda"))
        note = f"{_shown(prebuilt)}: cuda kernels {result['build_info'].get('cuda')}, archs " \
               f"{result['build_info'].get('cuda_archs')}"
    except (OSError, RuntimeError, subprocess.SubprocessError, ValueError) as e:
        ok, note = False, f"{_shown(prebuilt)} unusable ({e}); building here"
    run.record("prebuilt", "passed" if ok else "failed", 0 if ok else 1, time.monotonic() - start, note)
    if not ok:
        shutil.rmtree(run.site, ignore_errors=True)
    return ok


def build(run: Run) -> bool:
    shutil.rmtree(run.site, ignore_errors=True)
    env = build_env(run)
    have_pip = _output([run.python, "-m", "pip", "--version"], timeout=60) is not None
    cmd = build_command(run, have_pip)
    step = run.run_step("build", cmd, timeout_s=420, log="build.log", env=env, cwd=REPO)
    step["note"] = (step["note"] + "; " if step["note"] else "") + (
        f"TORCH_CUDA_ARCH_LIST={env['TORCH_CUDA_ARCH_LIST']} MAX_JOBS={env['MAX_JOBS']} "
        f"CUDA_HOME={'(probe)' if not env.get('CUDA_HOME') else env['CUDA_HOME']}")
    return step["status"] == "passed"


IMPORT_PROBE = r"""
import json, rsmooth_ext
print(json.dumps({"file": rsmooth_ext.__file__, "build_info": rsmooth_ext.build_info()}))
"""


def installed_import(python: str, site: str, workdir: str, environ: dict | None = None) -> dict:
    """Import rsmooth_ext as installed in ``site``, from ``workdir`` (outside the source tree: `python -m`
    or `-c` put the working directory first on sys.path, and the source tree has no built _C module).
    Returns {"file", "build_info"}; raises RuntimeError with the interpreter's message on failure."""
    env = dict(os.environ if environ is None else environ)
    env["PYTHONPATH"] = site
    proc = subprocess.run([python, "-c", IMPORT_PROBE], capture_output=True, text=True, cwd=workdir, env=env,
                          timeout=300)
    if proc.returncode != 0:
        raise RuntimeError((proc.stderr.strip().splitlines() or ["import failed"])[-1])
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if not os.path.realpath(result["file"]).startswith(os.path.realpath(site) + os.sep):
        raise RuntimeError(f"rsmooth_ext was imported from {result['file']}, not from the installed {site}")
    return result


def check_import(run: Run) -> bool:
    start = time.monotonic()
    try:
        result = installed_import(run.python, run.site, run.rundir)
    except (RuntimeError, subprocess.SubprocessError, ValueError) as e:
        run.record("import", "failed", 1, time.monotonic() - start, str(e))
        return False
    info = result["build_info"]
    run.facts["build_info"] = info
    ok = bool(info.get("cuda"))
    run.record("import", "passed" if ok else "failed", 0 if ok else 1, time.monotonic() - start,
               f"{os.path.relpath(result['file'], run.site)} in the scratch site; cuda kernels built: "
               f"{info.get('cuda')}, archs {info.get('cuda_archs')}")
    return ok


# ---- tests -----------------------------------------------------------------------------------------


def pytest_command(run: Run, *extra: str) -> list[str]:
    # --continue-on-collection-errors: one test module that fails to import must not stop the CUDA tests of
    # every other module (optional dependencies skip by importorskip; what still fails is listed in the summary)
    return [run.python, "-m", "pytest", os.path.join(REPO, "tests"), "-m", "cuda", "-p", "no:cacheprovider",
            "--rootdir", REPO, "-q", "-rfEs", "--continue-on-collection-errors", *extra]


def tests(run: Run) -> None:
    junit = run.log_path("junit.xml")
    if run.dry_run:
        step = run.run_step("tests", pytest_command(run, "--collect-only"), timeout_s=300, log="tests.log",
                            env=run.installed_env())
        selected = _count_collected(run.log_path("tests.log"))
        run.facts["cuda_tests_selected"] = selected
        if step["status"] == "passed" and not selected:
            step.update(status="failed", note="no CUDA test selected")
        else:
            step["note"] = f"dry run: {selected} CUDA tests selected (collected, not run)"
        _note_collection_errors(run, step)
        return
    record = os.path.join(run.work, "ulp.jsonl")
    step = run.run_step("tests", pytest_command(run, f"--junitxml={junit}"), timeout_s=240, log="tests.log",
                        env=run.installed_env(CUDA_LAUNCH_BLOCKING=1, **{ULP_RECORD_ENV: record}))
    run.facts["tests"] = parse_junit(junit)
    run.facts["cpu_cuda_max_ulp"] = read_ulp_records(record)
    _note_collection_errors(run, step)


def _note_collection_errors(run: Run, step: dict) -> None:
    """Records the test files that failed to collect (their CUDA tests did not run: the step fails) in the
    summary and in the step's note."""
    failed = collection_errors(run.log_path("tests.log"))
    run.facts["collection_errors"] = failed
    if failed:
        listed = ", ".join(failed)
        step.update(status="failed", note=f"{step['note']}; failed to collect: {listed}" if step["note"]
                    else f"failed to collect: {listed}")


def collection_errors(log: str) -> list[str]:
    """The test files that failed to import in the last pytest run of ``log`` (its "ERROR collecting FILE"
    headers), sorted."""
    if not os.path.exists(log):
        return []
    with open(log) as f:
        text = f.read()
    starts = [m.start() for m in re.finditer(r"^===== tests: .* \(limit \d+ s\)$", text, flags=re.MULTILINE)]
    last_run = text[starts[-1]:] if starts else text
    return sorted(set(re.findall(r"^_+ ERROR collecting (\S+) _+$", last_run, flags=re.MULTILINE)))


def _count_collected(log: str) -> int:
    """The number of tests the last `pytest --collect-only -q` in ``log`` selected ("N tests collected",
    or "N/M tests collected (K deselected)")."""
    with open(log) as f:
        found = re.findall(r"^(\d+)(?:/\d+)? tests? collected", f.read(), flags=re.MULTILINE)
    return int(found[-1]) if found else 0


def parse_junit(path: str) -> dict:
    """{test id: passed | failed | error | skipped} from a JUnit XML file ({} if it is missing)."""
    if not os.path.exists(path):
        return {}
    outcomes = {}
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed"}.get(child.tag, child.tag)
        outcomes[name] = outcome
    return outcomes


def read_ulp_records(path: str) -> dict:
    """{"family/dtype": max ulp} over the records the CUDA tests appended (one JSON object per line)."""
    out: dict = {}
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            item = json.loads(line)
            key = f"{item['family']}/{item['dtype']}"
            out[key] = max(out.get(key, 0), int(item["max_ulp"]))
    return dict(sorted(out.items()))


# ---- compute-sanitizer ------------------------------------------------------------------------------


def sanitizer(run: Run) -> None:
    if run.dry_run:
        run.record("memcheck", "skipped", None, 0.0, "dry run")
        run.record("racecheck", "skipped", None, 0.0, "dry run")
        return
    tool = run.facts.get("compute_sanitizer")
    if not tool:
        for name in ("memcheck", "racecheck"):
            run.record(name, "skipped", None, 0.0, "compute-sanitizer not found")
        return
    workload = [run.python, os.path.join(BENCH, "gpu_sanitizer_workload.py")]
    for name, args, kernels, limit in (("memcheck", ["--tool", "memcheck", "--leak-check", "no"], "all", 75),
                                       ("racecheck", ["--tool", "racecheck"], "radial,count", 45)):
        step = run.run_step(name, [tool, *args, "--error-exitcode", "99", *workload, "--kernels", kernels],
                            timeout_s=limit, log="sanitizer.log", env=run.installed_env())
        text = open(run.log_path("sanitizer.log")).read().rsplit(f"===== {name}:", 2)[-2]
        if step["status"] != "passed" and ("not supported" in text.lower() or "error 999" in text.lower()):
            step.update(status="skipped", note="compute-sanitizer does not work on this machine (see sanitizer.log)")
        elif "ERROR SUMMARY:" in text:
            step["note"] = text[text.rindex("ERROR SUMMARY:"):].splitlines()[0]


# ---- benchmarks ---------------------------------------------------------------------------------------


def benchmarks(run: Run) -> None:
    if run.dry_run:  # tiny CPU runs: the scripts must not rot before the next GPU comes
        jobs = [
            ("sampling", ["bench_sampling.py", "--device", "cpu", "--shapes", "4x3x8x8", "--one-per-kind",
                          "--dtypes", "float32", "bfloat16", "--layouts", "contiguous", "channels_last",
                          "--min-run-time", "0.01"]),
            ("counting", ["bench_counting.py", "--device", "cpu", "--rows", "200", "--classes", "10",
                          "--min-run-time", "0.01"]),
            ("certify", ["bench_certify.py", "--device", "cpu", "--inputs", "1", "--n0", "10", "--n", "50",
                         "--batch-size", "25", "--repeats", "1"]),
            ("attack", ["bench_attack.py", "--device", "cpu", "--inputs", "1", "--m", "2", "--steps", "1",
                        "--repeats", "1"]),
            ("train", ["bench_train.py", "--device", "cpu", "--batch", "2", "--rounds", "1",
                       "--methods", "gaussian"]),
        ]
    else:
        jobs = [
            ("sampling", ["bench_sampling.py", "--device", "cuda", "--shapes", "1000x3x32x32", "100x3x224x224",
                          "--min-run-time", "0.05"]),
            ("sampling_layouts", ["bench_sampling.py", "--device", "cuda", "--shapes", "100x3x224x224",
                                  "--one-per-kind", "--dtypes", "float32", "bfloat16", "--layouts", "contiguous",
                                  "channels_last", "--min-run-time", "0.05"]),
            ("counting", ["bench_counting.py", "--device", "cuda", "--min-run-time", "0.1"]),
            ("certify", ["bench_certify.py", "--device", "cuda", "--inputs", "8", "--n", "10000",
                         "--repeats", "3"]),
            ("attack", ["bench_attack.py", "--device", "cuda", "--inputs", "64", "--m", "8", "--steps", "4",
                        "--repeats", "3"]),
            ("train", ["bench_train.py", "--device", "cuda", "--batch", "256", "--rounds", "3"]),
            ("syncs", ["cuda_syncs.py"]),
        ]
    limits = {"sampling": 75, "sampling_layouts": 30, "counting": 30, "certify": 75, "attack": 45, "train": 45,
              "syncs": 45}
    timings = {}
    for name, args in jobs:
        json_path = os.path.join(run.work, f"{name}.json")
        run.run_step(name, [run.python, os.path.join(BENCH, args[0]), *args[1:], "--json", json_path],
                     timeout_s=limits[name], log="benchmarks.log", env=run.installed_env())
        if os.path.exists(json_path):
            with open(json_path) as f:
                timings[name] = json.load(f)
    run.facts["timings"] = timings


# ---- summary -----------------------------------------------------------------------------------------


def write_summary(run: Run) -> dict:
    summary = {
        "format": 1,
        "dry_run": run.dry_run,
        "finished_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {k: run.facts.get(k) for k in ("device_name", "sm_count", "capability", "memory_gb", "driver",
                                                   "nvidia_smi", "cpu_count")},
        "versions": {k: run.facts.get(k) for k in ("python", "torch", "torch_cuda", "nvcc", "numpy", "scipy")},
        "git": {"commit": run.facts.get("git_commit"), "dirty": run.facts.get("git_dirty")},
        "missing": run.facts.get("missing", []),
        "build_info": run.facts.get("build_info"),
        "steps": run.steps,
        "tests": run.facts.get("tests", {}),
        "cuda_tests_selected": run.facts.get("cuda_tests_selected"),
        "collection_errors": run.facts.get("collection_errors", []),
        "cpu_cuda_max_ulp": run.facts.get("cpu_cuda_max_ulp", {}),
        "timings": run.facts.get("timings", {}),
    }
    with open(run.log_path("summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return summary


def markdown(summary: dict) -> str:
    m = summary["machine"]
    lines = [f"## rsmooth_ext GPU check{' (dry run)' if summary['dry_run'] else ''}: "
             f"{m.get('device_name') or 'no GPU'}, {m.get('sm_count') or '-'} SMs, driver {m.get('driver') or '-'}, "
             f"torch {summary['versions'].get('torch')}, commit {(summary['git'].get('commit') or '?')[:10]}",
             "", "| step | status | rc | seconds | note |", "|---|---|---|---|---|"]
    for s in summary["steps"]:
        lines.append(f"| {s['step']} | {s['status']} | {s['rc']} | {s['seconds']} | {s['note']} |")
    tests_ = summary["tests"]
    if tests_:
        counts = {}
        for outcome in tests_.values():
            counts[outcome] = counts.get(outcome, 0) + 1
        lines += ["", "tests: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))]
        lines += [f"- {name}: {outcome}" for name, outcome in tests_.items() if outcome in ("failed", "error")]
    if summary.get("collection_errors"):
        lines += ["", "test files that failed to collect (their tests did not run): "
                  + ", ".join(summary["collection_errors"])]
    if summary["cpu_cuda_max_ulp"]:
        lines += ["", "CPU vs CUDA max ulp: " + ", ".join(f"{k} {v}" for k, v in summary["cpu_cuda_max_ulp"].items())]
    return "\n".join(lines)


def default_out() -> str:
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return os.environ.get("OUT") or os.path.join(REPO, "benchmarks", "results", f"gpu-{stamp}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="only the steps that need no GPU")
    parser.add_argument("--python", default=sys.executable, help="the interpreter to build and test with")
    parser.add_argument("--out", default=None, help="output directory (default: $OUT, else benchmarks/results/)")
    parser.add_argument("--budget", type=float, default=480.0, help="seconds for the whole check (default 480)")
    parser.add_argument("--prebuilt", default=None,
                        help="a package already built for this machine (pip install --target DIR): used when it "
                             "imports with its CUDA kernels, else the package is built here")
    parser.add_argument("--keep-work", action="store_true", help="keep the build directory (printed)")
    args = parser.parse_args(argv)
    out = os.environ.get("OUT") or args.out or default_out()
    os.makedirs(out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="rsmooth-gpu-check-")
    # every step runs from a scratch directory: a relative interpreter path must be made absolute first
    python = os.path.abspath(args.python) if os.sep in args.python else (shutil.which(args.python) or args.python)
    run = Run(python, out, work, args.dry_run, args.budget)
    try:
        built = check_prerequisites(run, args.dry_run) and (
            (args.prebuilt and not run.dry_run and use_prebuilt(run, os.path.abspath(args.prebuilt))) or build(run))
        if built and check_import(run):
            tests(run)
            benchmarks(run)
            sanitizer(run)
        summary = write_summary(run)
    finally:
        if args.keep_work:
            print(f"[gpu_check] work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"[gpu_check] results in {out}\n")
    print(markdown(summary))
    failed = [s for s in summary["steps"] if s["status"] in ("failed", "timeout")]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
