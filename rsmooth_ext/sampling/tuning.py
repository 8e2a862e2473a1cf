"""``fast=True`` / ``--fast``: the forward-pass configuration chosen by measurement on the call's own model,
input shape, noise and batch size, not by a fixed preset.

Candidates: eager; channels_last (image batches); ``torch.autocast`` in bfloat16 / float16 only where the
hardware runs that dtype natively (CPU: oneDNN's ``_is_mkldnn_bf16_supported`` / ``_is_mkldnn_fp16_supported``;
CUDA: compute capability >= 8.0 for bfloat16, >= 7.0 for float16); and the compiled step on top of the
fastest eager ones. Each candidate runs one untimed batch (warm-up; for a compiled one, its compilation),
then ``repeats`` timed batches of ``batch_size`` real noisy rows of the call's first input; its time is the
median. The choice is the candidate with the smallest median, so it is never slower than eager by its own
measurement (eager is always a candidate).

Cost, bounded: at most (1 + repeats) batches per eager candidate (2, 4 or 6 of them) plus
``compile_top`` compilations and their (1 + repeats) batches; with the defaults (repeats 3, compile_top 2)
that is at most 32 batches and two compilations (a compilation takes a few seconds to a minute on a 2-core
CPU). The choice is cached for the process and on disk (``tuning.json`` in the cache directory, beside the
radius tables), keyed with the model's architecture, the input shape, device, dtype, noise family, batch
size, the torch version and the CPU / GPU name, so a machine pays it once per configuration.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import statistics
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ..cache import atomic_write, cache_dir

DTYPE_NAMES = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}
_DTYPES_BY_NAME = {name: dtype for dtype, name in DTYPE_NAMES.items()}
CACHE_FILE = "tuning.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Candidate:
    """One forward-pass configuration: the keyword arguments of the sampling calls it stands for."""

    channels_last: bool = False
    autocast: torch.dtype | None = None
    compile: bool = False

    @property
    def name(self) -> str:
        """'eager', or the parts joined by '+', e.g. 'compile+bf16+channels_last'."""
        parts = (["compile"] if self.compile else []) + ([DTYPE_NAMES[self.autocast]] if self.autocast else [])
        parts += ["channels_last"] if self.channels_last else []
        return "+".join(parts) or "eager"

    def options(self) -> dict:
        """The sampling calls' keyword arguments (channels_last, autocast, compile)."""
        return {"channels_last": self.channels_last, "autocast": self.autocast, "compile": self.compile}

    @classmethod
    def from_name(cls, name: str) -> Candidate:
        parts = set(name.split("+")) - {"eager"}
        dtype = next((_DTYPES_BY_NAME[p] for p in parts if p in ("bf16", "fp16")), None)
        unknown = parts - {"compile", "channels_last", "bf16", "fp16"}
        if unknown:
            raise ValueError(f"unknown forward-pass configuration {name!r}")
        return cls("channels_last" in parts, dtype, "compile" in parts)


@dataclass
class Choice:
    """The tuner's answer: the fastest candidate, every candidate's median seconds per batch, and whether it
    came from a cache ('process', 'disk') or was measured now (None)."""

    candidate: Candidate
    seconds: dict[str, float]  # candidate name -> median seconds per batch of batch_size rows
    batch_size: int
    cached: str | None = None
    key: dict = field(default_factory=dict)

    def summary(self) -> str:
        """One line: the choice and the measured times, fastest first."""
        times = ", ".join(f"{name} {s * 1e3:.3g} ms" for name, s in sorted(self.seconds.items(), key=lambda t: t[1]))
        eager = self.seconds.get("eager")
        speedup = f", {eager / self.seconds[self.candidate.name]:.2f}x eager" if eager else ""
        source = f" (cached, {self.cached})" if self.cached else ""
        return (f"fast: {self.candidate.name}{speedup}; per batch of {self.batch_size} rows: {times}{source}")


# ---- what the hardware runs natively ---------------------------------------------------------------------


def _mkldnn_supported(name: str) -> bool:
    """oneDNN's native support for ``name`` ('bf16', 'fp16') on this CPU; False where torch cannot tell."""
    check = getattr(torch.ops.mkldnn, f"_is_mkldnn_{name}_supported", None)
    if check is None:
        return False
    try:
        return bool(check())
    except RuntimeError:
        return False


def native_autocast_dtypes(device: torch.device) -> list[torch.dtype]:
    """The autocast dtypes ``device`` runs natively (faster than float32 can be expected), bfloat16 first."""
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        out = [torch.bfloat16] if (major, minor) >= (8, 0) else []
        return out + ([torch.float16] if (major, minor) >= (7, 0) else [])
    if device.type == "cpu":
        return [dtype for dtype, name in ((torch.bfloat16, "bf16"), (torch.float16, "fp16")) if _mkldnn_supported(name)]
    return []


def eager_candidates(x: torch.Tensor, *, channels_last: bool | None = None,
                     autocast: torch.dtype | None | str = "tune") -> list[Candidate]:
    """The eager candidates for inputs like ``x``: channels_last only for image batches (N, C, H, W) with C > 1
    (with one channel both layouts are the same memory, and inductor's stride guess for the convolution after it
    can disagree with eager's), autocast only in native dtypes. ``channels_last`` / ``autocast`` other than their
    defaults fix that part."""
    if channels_last is None:
        layouts = [False, True] if x.dim() == 4 and x.shape[1] > 1 else [False]
    else:
        layouts = [channels_last]
    dtypes = [None, *native_autocast_dtypes(x.device)] if autocast == "tune" else [autocast]
    return [Candidate(cl, dtype, False) for dtype in dtypes for cl in layouts]


# ---- measuring -------------------------------------------------------------------------------------------


def measure_candidate(model, x1: torch.Tensor, noise, candidate: Candidate, *, batch_size: int, repeats: int,
                      timer: Callable[[], float], seed: int = 0, out_dtype: torch.dtype | None = None) -> float:
    """Median seconds of ``repeats`` batches of ``batch_size`` noisy rows of the input ``x1`` (1, *shape), after
    one untimed warm-up batch (a compiled candidate compiles there)."""
    from ..smooth import sample_counts

    def one_batch(offset: int) -> None:
        counts = sample_counts(model, x1, noise, batch_size, batch_size=batch_size, seed=seed + offset,
                               out_dtype=None if candidate.autocast else out_dtype, **candidate.options())
        if counts.device.type == "cuda":
            torch.cuda.synchronize(counts.device)

    one_batch(0)
    times = []
    for r in range(repeats):
        t0 = timer()
        one_batch(r + 1)
        times.append(timer() - t0)
    return float(statistics.median(times))


def choose(seconds: dict[str, float]) -> str:
    """The name of the fastest measured candidate (ties: the first measured, eager first)."""
    return min(seconds, key=seconds.__getitem__)


# ---- the cache ---------------------------------------------------------------------------------------------


def device_name(device: torch.device) -> str:
    """The CPU model (with its vector ISA and thread count) or the GPU name: part of the disk cache key."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    return f"{model}; {torch.backends.cpu.get_cpu_capability()}; {torch.get_num_threads()} threads"


def model_signature(model) -> str:
    """The model's class and a hash of its structure and parameter shapes / dtypes (not its values: the
    speed does not depend on them)."""
    parts = [repr(model)]
    if isinstance(model, torch.nn.Module):
        parts += [f"{name}:{tuple(t.shape)}:{t.dtype}" for name, t in model.state_dict().items()]
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
    return f"{type(model).__module__}.{type(model).__qualname__}:{digest}"


def cache_key(model, x: torch.Tensor, noise, batch_size: int, fixed: dict) -> dict:
    return {"model": model_signature(model), "input_shape": list(x.shape[1:]), "device": x.device.type,
            "dtype": str(x.dtype).replace("torch.", ""), "noise": noise.family, "batch_size": batch_size,
            "fixed": {k: (DTYPE_NAMES.get(v, str(v)) if k == "autocast" else v) for k, v in sorted(fixed.items())},
            "torch": torch.__version__, "hardware": device_name(x.device), "version": FORMAT_VERSION}


def cache_path() -> str:
    return os.path.join(cache_dir(), CACHE_FILE)


def read_disk_cache() -> dict:
    """The disk cache: key string -> {"choice", "seconds", "key"}; empty if missing or unreadable."""
    try:
        with open(cache_path()) as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_disk_cache(key_text: str, entry: dict) -> None:
    data = read_disk_cache()
    data[key_text] = entry
    try:
        atomic_write(cache_path(), lambda f: f.write(json.dumps(data, indent=1, sort_keys=True).encode()))
    except OSError:  # a read-only cache directory costs a re-tune next time, nothing else
        pass


# model -> {key string: Choice}; the entries go when the model does.
_PROCESS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def clear_process_cache() -> None:
    """Forget the choices made in this process (the disk cache stays)."""
    _PROCESS.clear()


# ---- the tuner ---------------------------------------------------------------------------------------------


def tune(model, x: torch.Tensor, noise, *, batch_size: int = 1000, repeats: int = 3, compile_top: int = 2,
         channels_last: bool | None = None, autocast: torch.dtype | None | str = "tune",
         compile: bool | None = None, use_cache: bool = True,
         timer: Callable[[], float] = time.perf_counter, seed: int = 0,
         out_dtype: torch.dtype | None = None) -> Choice:
    """Choose the fastest forward-pass configuration for sampling ``noise`` around inputs like ``x`` with
    ``model`` in batches of ``batch_size`` rows (see the module docstring for the candidates and the cost).

    ``channels_last`` (bool), ``autocast`` (a dtype or None) and ``compile`` (bool) fix that part of the
    configuration instead of tuning it. ``compile_top``: how many of the fastest eager candidates are also
    measured compiled (0: none). ``timer`` is the clock of the measurements (injectable for tests). With
    ``use_cache``, a choice cached for this process or on disk is returned without measuring. ``out_dtype``: the
    dtype of the noisy batches of the eager float candidates (a model in that dtype; then use autocast=None)."""
    if not isinstance(x, torch.Tensor) or x.dim() < 2 or x.shape[0] < 1:
        raise ValueError("x must be a non-empty batch (B, *shape) of inputs to tune on")
    for name, value in (("repeats", repeats), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    if isinstance(compile_top, bool) or not isinstance(compile_top, int) or compile_top < 0:
        raise ValueError(f"compile_top must be an int >= 0, got {compile_top!r}")
    if channels_last and x.dim() != 4:
        raise ValueError(f"channels_last needs image inputs (N, C, H, W), got shape {tuple(x.shape)}")
    fixed = {k: v for k, v in (("channels_last", channels_last), ("compile", compile)) if v is not None}
    if autocast != "tune":
        fixed["autocast"] = autocast
    if out_dtype is not None and out_dtype != x.dtype:
        fixed["out_dtype"] = str(out_dtype).replace("torch.", "")
    key = cache_key(model, x, noise, batch_size, fixed)
    key_text = json.dumps(key, sort_keys=True)
    per_model = _per_model(model)
    if use_cache:
        if key_text in per_model:
            choice = per_model[key_text]
            return Choice(choice.candidate, choice.seconds, batch_size, "process", key)
        entry = read_disk_cache().get(key_text)
        if entry is not None:
            try:
                choice = Choice(Candidate.from_name(entry["choice"]), dict(entry["seconds"]), batch_size, "disk", key)
            except (KeyError, TypeError, ValueError):
                choice = None
            if choice is not None:
                per_model[key_text] = choice
                return choice
    x1 = x[:1]
    seconds: dict[str, float] = {}
    eager = eager_candidates(x, channels_last=channels_last, autocast=autocast)
    if compile is not True:
        for candidate in eager:
            seconds[candidate.name] = measure_candidate(model, x1, noise, candidate, batch_size=batch_size,
                                                        repeats=repeats, timer=timer, seed=seed, out_dtype=out_dtype)
        ranked = sorted(eager, key=lambda c: seconds[c.name])[:compile_top] if compile is None else []
    else:
        ranked = eager
    for candidate in ranked:
        compiled = Candidate(candidate.channels_last, candidate.autocast, True)
        seconds[compiled.name] = measure_candidate(model, x1, noise, compiled, batch_size=batch_size,
                                                   repeats=repeats, timer=timer, seed=seed, out_dtype=out_dtype)
    choice = Choice(Candidate.from_name(choose(seconds)), seconds, batch_size, None, key)
    per_model[key_text] = choice
    _write_disk_cache(key_text, {"choice": choice.candidate.name, "seconds": seconds, "key": key,
                                 "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    return choice


def _per_model(model) -> dict:
    try:
        return _PROCESS.setdefault(model, {})
    except TypeError:  # a model that cannot be weakly referenced: no process cache
        return {}


def fast_options(model, x: torch.Tensor, noise, *, batch_size: int, channels_last: bool = False,
                 autocast: torch.dtype | None = None, compile: bool | dict = False) -> tuple[dict, Choice]:
    """The sampling calls' (channels_last, autocast, compile) under ``fast=True``: the tuner's choice, with
    every option the caller set away from its default (channels_last=True, an autocast dtype, compile) fixed.
    A compile dict is kept as given when the choice compiles."""
    choice = tune(model, x, noise, batch_size=batch_size, channels_last=True if channels_last else None,
                  autocast=autocast if autocast is not None else "tune", compile=True if compile else None)
    options = choice.candidate.options()
    if options["compile"] and isinstance(compile, dict):
        options["compile"] = compile
    return options, choice


def cached_choices() -> list[dict]:
    """The disk cache's entries: the key, the choice and the measured seconds, for ``rsmooth info``."""
    out = []
    for entry in read_disk_cache().values():
        if isinstance(entry, dict) and "choice" in entry:
            out.append({"choice": entry["choice"], "seconds": entry.get("seconds", {}), "key": entry.get("key", {}),
                        "measured": entry.get("measured")})
    return out


def resolve_fast(fast, model, x, noise, *, batch_size: int, out_dtype, channels_last: bool, autocast,
                 compile, distributed: bool = False) -> tuple[bool, torch.dtype | None, bool | dict, Choice | None]:
    """(channels_last, autocast, compile, choice) of a sampling call: as given (choice None), or under
    ``fast=True`` the tuner's choice (``fast_options``). A model in another dtype (``out_dtype`` other than
    x's) is not run under autocast. Under ``distributed``, every rank uses rank 0's choice (one base classifier)."""
    if not isinstance(fast, bool):
        raise TypeError(f"fast must be a bool, got {fast!r}")
    if not fast:
        return channels_last, autocast, compile, None
    if out_dtype is not None and out_dtype != x.dtype and autocast is None:
        choice = tune(model, x, noise, batch_size=batch_size, channels_last=True if channels_last else None,
                      autocast=None, compile=True if compile else None, out_dtype=out_dtype)
        options = choice.candidate.options()
    else:
        options, choice = fast_options(model, x, noise, batch_size=batch_size, channels_last=channels_last,
                                       autocast=autocast, compile=compile)
    from . import distributed as dist

    if distributed and dist.is_active():
        shared = [choice.candidate.name]
        torch.distributed.broadcast_object_list(shared, src=0)
        candidate = Candidate.from_name(shared[0])
        options = {**candidate.options(), "compile": (options["compile"] or True) if candidate.compile else False}
    return options["channels_last"], options["autocast"], options["compile"], choice
