"""Cheaper forward passes for the sampling loop: the model under ``torch.autocast``, and the per-batch step
(perturb -> model -> vote count, or softmax sum) compiled by ``torch.compile`` as one graph with the
extension's ops inside it, at fixed shapes, optionally replayed as a CUDA graph.

Static shapes: every batch of a call has the shape of its largest one; the last, partial batch is padded
(with copies of input 0) and its padding rows are not counted -- the counting op reads the number of valid
rows from a device tensor, as the perturb op reads (seed, sample offset, phase) from one, so nothing that
changes between batches or calls is a constant of the graph: one compiled graph (one CUDA graph) serves
every batch of every call of the same configuration, without host synchronisation.
"""

from __future__ import annotations

import contextlib
import itertools
import types
import weakref
from dataclasses import dataclass

import torch

from .._ops import as_uint32_ids, launch_perturb

AUTOCAST_DTYPES = (torch.bfloat16, torch.float16)


def check_autocast(autocast) -> torch.dtype | None:
    """``autocast`` must be None, torch.bfloat16 or torch.float16."""
    if autocast is None or (isinstance(autocast, torch.dtype) and autocast in AUTOCAST_DTYPES):
        return autocast
    raise TypeError(f"autocast must be None, torch.bfloat16 or torch.float16, got {autocast!r}")


def compile_options(compile, device: torch.device) -> dict | None:
    """The torch.compile keyword arguments for ``compile`` (False | True | dict), or None for eager.

    Defaults: ``fullgraph=True`` (a graph break is an error, not a silent slowdown), ``dynamic=False``
    (the shapes are fixed), and on CUDA ``mode="reduce-overhead"`` (CUDA graphs) unless the dict names a
    ``mode``, ``options`` or a ``backend``."""
    if compile is False:
        return None
    if compile is True:
        given = {}
    elif isinstance(compile, dict):
        given = dict(compile)
        allowed = {"backend", "mode", "options", "fullgraph", "dynamic"}
        unknown = sorted(set(given) - allowed)
        if unknown:
            raise ValueError(f"compile options {unknown} are not supported; allowed: {sorted(allowed)}")
    else:
        raise TypeError(f"compile must be False, True or a dict of torch.compile options, got {compile!r}")
    options = {"fullgraph": True, "dynamic": False}
    if device.type == "cuda" and not {"mode", "options", "backend"} & set(given):
        options["mode"] = "reduce-overhead"
    options.update(given)
    return options


def _autocast_context(device_type: str, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device_type, dtype=dtype)


@dataclass(frozen=True)
class StepSpec:
    """Everything that is a constant of one compiled step (the cache key, with the model)."""

    kind: str  # "count" (votes) or "soft" (sum of softmax probabilities)
    family: str
    params: tuple
    inputs: int  # inputs per batch
    samples: int  # samples per input per batch
    input_shape: tuple
    x_dtype: torch.dtype
    device: torch.device
    noisy_dtype: torch.dtype
    channels_last: bool
    autocast: torch.dtype | None
    options: str  # repr of the torch.compile options


def step_function(spec: StepSpec):
    """The per-batch step as a plain function of tensors: (model, x (inputs, *shape), ids (inputs,),
    rng_state (3,), num_valid_rows (), table (a sound spec's thresholds, or None)) -> per-input votes and invalid
    tallies, or softmax sums."""
    params = list(spec.params)

    def rsmooth_step(model, x, ids, rng_state, num_valid_rows, table):
        rows = torch.ops.rsmooth_ext.perturb.default(x, spec.family, params, spec.samples, 0, 0, 0, ids,
                                                     spec.noisy_dtype, spec.channels_last, rng_state, table)
        with _autocast_context(spec.device.type, spec.autocast):
            logits = model(rows)
        if spec.kind == "count":
            counts = torch.zeros((x.shape[0], logits.shape[1]), dtype=torch.int64, device=x.device)
            invalid = torch.zeros((x.shape[0],), dtype=torch.int64, device=x.device)
            torch.ops.rsmooth_ext.argmax_count_.default(counts, invalid, logits, num_valid_rows)
            return counts, invalid
        probs = torch.softmax(logits.double(), dim=1)
        valid = torch.arange(rows.shape[0], device=x.device) < num_valid_rows
        probs = torch.where(valid[:, None], probs, torch.zeros((), dtype=probs.dtype, device=x.device))
        return probs.reshape(x.shape[0], spec.samples, -1).sum(dim=1)

    return rsmooth_step


_step_names = itertools.count()


def _own_code_object(fn):
    """A copy of ``fn`` with its own code object. Dynamo keeps its compiled entries (and its recompile limit,
    8 by default) per code object: one per configuration keeps configurations from evicting each other."""
    code = fn.__code__.replace(co_name=f"{fn.__name__}_{next(_step_names)}")
    return types.FunctionType(code, fn.__globals__, code.co_name, fn.__defaults__, fn.__closure__)


# model -> {StepSpec: compiled step}; the entries go when the model does.
_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def compiled_step(model, spec: StepSpec, options: dict):
    """The compiled step of ``spec`` for ``model``, compiled on first use and cached across calls."""
    try:
        per_model = _COMPILED.setdefault(model, {})
    except TypeError:  # a model that cannot be weakly referenced: no cache across calls
        per_model = {}
    step = per_model.get(spec)
    if step is None:
        step = torch.compile(_own_code_object(step_function(spec)), **options)
        per_model[spec] = step
    return step


class ForwardPasses:
    """How the sampler runs the model: autocast dtype and compile options (see ``sample_counts``)."""

    def __init__(self, x: torch.Tensor, out_dtype: torch.dtype | None, autocast, compile):
        self.autocast = check_autocast(autocast)
        if self.autocast is not None and out_dtype is not None and out_dtype != self.autocast:
            raise ValueError(
                f"out_dtype={out_dtype} and autocast={self.autocast} disagree: under autocast the noisy batch is "
                "written in the autocast dtype (leave out_dtype=None)"
            )
        self.noisy_dtype = self.autocast or out_dtype or x.dtype
        self.device = x.device
        self.options = compile_options(compile, x.device)

    @property
    def compiled(self) -> bool:
        return self.options is not None

    def context(self):
        """The autocast context of an eager forward pass (a no-op without autocast)."""
        return _autocast_context(self.device.type, self.autocast)

    def run(self, sampler, kind: str, phase: int, plan: list):
        """Run the compiled step over the batches ``plan`` (from ``sampler.batch_plan``): per-input (counts,
        invalid) for kind "count", softmax sums for "soft", accumulated on the device; None for no batch."""
        if not plan:
            return None
        x = sampler.x
        inputs = max(i1 - i0 for i0, i1, _, _ in plan)
        samples = max(s1 - s0 for _, _, s0, s1 in plan)
        self._check_model_output(sampler, phase)
        noise = sampler.noise
        spec = StepSpec(kind, noise.kernel_family, tuple(noise.kernel_params), inputs, samples, tuple(x.shape[1:]),
                        x.dtype, x.device, self.noisy_dtype, sampler.channels_last, self.autocast,
                        repr(sorted(self.options.items())))
        step = compiled_step(sampler.model, spec, self.options)
        # Per-batch values as device data, uploaded once: the step's inputs, not constants of its graph.
        pad = inputs - 1
        x_padded = torch.cat([x, x[:1].expand(pad, *x.shape[1:])]) if pad else x
        ids = sampler.input_ids  # checked int64; the step gets them as uint32 (no range check, no host sync)
        ids_padded = as_uint32_ids(torch.cat([ids, ids[:1].expand(pad)]) if pad else ids)
        rng_states = torch.tensor([[sampler.seed, s0, phase] for _, _, s0, _ in plan], dtype=torch.int64)
        valid_rows = torch.tensor([(i1 - i0) * (s1 - s0) for i0, i1, s0, s1 in plan], dtype=torch.int64)
        rng_states, valid_rows = rng_states.to(x.device), valid_rows.to(x.device)
        table = noise.kernel_table(x.device)  # an input of the step (a sound spec's thresholds), not a constant
        cudagraphs = self.options.get("mode") == "reduce-overhead" and x.device.type == "cuda"
        total = None
        for j, (i0, i1, _, _) in enumerate(plan):
            if cudagraphs:  # the previous replay's outputs were consumed below; let the next one reuse them
                torch.compiler.cudagraph_mark_step_begin()
            out = step(sampler.model, x_padded[i0 : i0 + inputs], ids_padded[i0 : i0 + inputs], rng_states[j],
                       valid_rows[j], table)
            out = out if isinstance(out, tuple) else (out,)
            if total is None:
                total = tuple(torch.zeros((x.shape[0], *o.shape[1:]), dtype=o.dtype, device=x.device) for o in out)
            for acc, o in zip(total, out):
                acc[i0:i1] += o[: i1 - i0]
        return total if kind == "count" else total[0]

    def _check_model_output(self, sampler, phase: int) -> None:
        """The model's output shape and width, checked eagerly on two noisy rows (errors inside a compiled
        graph would be unreadable); the rows are not counted."""
        rows = launch_perturb(sampler.x[:1], sampler.noise, 2, sampler.seed, 0, phase, sampler.input_ids[:1],
                              self.noisy_dtype, sampler.channels_last, None)
        sampler.logits(rows)


# model -> {(options repr, autocast): compiled model}; the entries go when the model does.
_COMPILED_MODELS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def compiled_model(model, options: dict, device_type: str, autocast: torch.dtype | None):
    """``model`` under ``autocast``, compiled by torch.compile(**options), cached across calls: for loops that
    write the noisy rows themselves and always call the model on the same full batch (one graph)."""
    key = (repr(sorted(options.items())), device_type, autocast)
    try:
        per_model = _COMPILED_MODELS.setdefault(model, {})
    except TypeError:
        per_model = {}
    fn = per_model.get(key)
    if fn is None:
        def rsmooth_model(rows):
            with _autocast_context(device_type, autocast):
                return model(rows)

        fn = torch.compile(_own_code_object(rsmooth_model), **options)
        per_model[key] = fn
    return fn
