"""The model and the examples of a run (--model / --checkpoint, --data), and the check that one fits the
other before any results file is created."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

import torch

from ..data import DataError, Examples, load_examples, unit_range_problem
from ..models import FORMATS as CHECKPOINT_FORMATS
from ..models import CheckpointError, load_checkpoint
from .errors import CliError


def load_model(spec: str, weights: str | None) -> torch.nn.Module:
    """The module returned by the factory ``package.module:factory`` (imported from the working directory
    too), with the state dict ``weights`` loaded if given."""
    if ":" not in spec:
        raise CliError(f"--model must look like package.module:factory, got {spec!r}")
    module_name, factory_name = spec.split(":", 1)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # noqa: BLE001 - any import failure is the user's to fix
        raise CliError(f"cannot import model module {module_name!r}: {type(e).__name__}: {e}") from None
    factory = getattr(module, factory_name, None)
    if not callable(factory):
        raise CliError(f"{module_name} has no callable {factory_name!r}")
    try:
        model = factory()
    except Exception as e:  # noqa: BLE001
        raise CliError(f"model factory {spec} failed: {type(e).__name__}: {e}") from None
    if not isinstance(model, torch.nn.Module):
        raise CliError(f"model factory {spec} returned {type(model).__name__}, not a torch.nn.Module")
    if weights is not None:
        if not os.path.isfile(weights):
            raise CliError(f"weights file {weights} does not exist")
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
        except Exception as e:  # noqa: BLE001
            raise CliError(f"cannot load weights {weights}: {type(e).__name__}: {str(e).splitlines()[0]}") from None
    return model


def load_model_from_args(args: argparse.Namespace) -> torch.nn.Module:
    """--model package.module:factory [--weights], or --checkpoint FORMAT:PATH [--arch ...]."""
    if args.model is not None:
        for flag in ("arch", "normalization", "dataset"):
            if getattr(args, flag) is not None:
                raise CliError(f"--{flag} applies to --checkpoint, not to --model")
        return load_model(args.model, args.weights)
    if args.weights is not None:
        raise CliError("--weights applies to --model; --checkpoint FORMAT:PATH names its file itself")
    fmt, sep, path = args.checkpoint.partition(":")
    if not sep or fmt not in CHECKPOINT_FORMATS or not path:
        raise CliError(f"--checkpoint must be FORMAT:PATH with FORMAT one of {', '.join(CHECKPOINT_FORMATS)}, "
                       f"got {args.checkpoint!r}")
    try:
        return load_checkpoint(path, fmt, arch=args.arch, normalization=args.normalization, dataset=args.dataset)
    except (CheckpointError, ValueError, TypeError) as e:
        raise CliError(str(e)) from None


def load_data(args: argparse.Namespace) -> Examples:
    """The selected examples of --data (--data-format, --skip, --max, --limit), checked to lie in [0, 1]:
    an error for --checkpoint models (their first layer normalizes), a warning for --model ones."""
    if args.skip < 1:
        raise CliError(f"--skip must be >= 1, got {args.skip}")
    if args.max_index is not None and args.max_index < 1:
        raise CliError(f"--max must be >= 1, got {args.max_index}")
    try:
        examples = load_examples(args.data, args.data_format, skip=args.skip, max_index=args.max_index)
    except (DataError, ValueError) as e:
        raise CliError(str(e)) from None
    if args.limit is not None:
        examples.inputs, examples.labels = examples.inputs[: args.limit], examples.labels[: args.limit]
        examples.indices = examples.indices[: args.limit]
    problem = unit_range_problem(examples.inputs, args.data)
    if problem is not None:
        if args.checkpoint is not None:
            raise CliError(problem)
        print(f"rsmooth: warning: {problem}", file=sys.stderr)
    return examples


def check_model_on_data(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device,
                        dtype: torch.dtype) -> int:
    """Run the model on one example: its output fixes the number of classes K; labels must lie in [0, K).
    Returns K."""
    try:
        with torch.inference_mode():
            logits = model.eval()(x[:1].to(device, dtype))
    except Exception as e:  # noqa: BLE001
        raise CliError(f"the model cannot take inputs of shape {tuple(x.shape[1:])}: "
                       f"{type(e).__name__}: {str(e).splitlines()[0]}") from None
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or logits.shape[0] != 1:
        raise CliError(f"the model must return logits (batch, num_classes), got {getattr(logits, 'shape', logits)}")
    k = logits.shape[1]
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= k):
        found = f"{int(y.min())}..{int(y.max())}"
        raise CliError(f"labels must lie in [0, {k}) for a model with {k} outputs; found {found}")
    return k
