"""The option groups the commands share (sampling, model, data, output), how their values are checked and
what the sampling calls make of them, and the help formatter that shows every option's default.

Cohen et al.'s scripts spell the sample counts and batch size ``--N0 --N --batch``; they are accepted as
aliases of ``--n0 --n --batch-size``."""

from __future__ import annotations

import argparse

import torch

from ..certificates.routes import ADVERSARIES
from ..data import DATA_FORMATS
from ..models import DATASET_STATS as CHECKPOINT_DATASETS
from ..models import FORMATS as CHECKPOINT_FORMATS
from ..models import NORMALIZATIONS
from ..sampling import distributed as dist
from ..sampling.tuning import Choice, fast_options
from .errors import CliError
from .noise_options import add_noise_options

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}

COHEN_N = 100_000  # estimation samples of Cohen et al.'s certify.py and predict.py (their --N)


class HelpFormatter(argparse.HelpFormatter):
    """Appends each option's default to its help, unless the help states it already or the option is
    required; flags read "off" rather than False, and options without a value "none"."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("default" in text or not action.option_strings or action.required
                or action.default is argparse.SUPPRESS):
            return text
        if action.nargs == 0:  # store_true / store_false flags
            return f"{text} (default: {'on' if action.default else 'off'})"
        if action.default is None:
            return f"{text} (default: none)"
        return f"{text} (default: %(default)s)"


def add_sampling_options(p: argparse.ArgumentParser, *, certify_options: bool, defaults: dict) -> None:
    """The noise and sampling options of a command that samples; ``defaults`` may override the noise's
    (``noise``, ``sigma``) and the sample counts' (``n0``, ``n``)."""
    add_noise_options(p, defaults)
    s = p.add_argument_group("sampling")
    if certify_options:
        s.add_argument("--n0", "--N0", dest="n0", type=int, default=defaults.get("n0", 100),
                       help="selection samples (Cohen's --N0)")
        s.add_argument("--adversary", default=None, choices=ADVERSARIES, help="default: the noise's natural one")
        s.add_argument("--top2", action="store_true",
                       help="certify with a simultaneous upper bound on every other class (pA/pB radii)")
    s.add_argument("--n", "--num-samples", "--N", dest="n", type=int, default=defaults.get("n", COHEN_N),
                   help="estimation samples (Cohen's --N); spell it --num-samples under torchrun, whose own "
                        "options start with --n")
    s.add_argument("--alpha", type=float, default=0.001, help="failure probability")
    s.add_argument("--batch-size", "--batch", dest="batch_size", type=int, default=1000,
                   help="noisy copies per forward pass (Cohen's --batch)")
    s.add_argument("--seed", type=int, default=0, help="seed of the noise (with the example index, fixes every sample)")
    s.add_argument("--device", default="auto", help="auto (default): cuda:LOCAL_RANK if a GPU is available, else cpu")
    s.add_argument("--dtype", default="float32", choices=sorted(DTYPES), help="dtype of the model and noisy batches")
    s.add_argument("--limit", type=int, default=None, help="only the first N examples (default: all)")
    s.add_argument("--channels-last", action="store_true",
                   help="write the noisy batches channels_last (4-d inputs; faster convolutions on CPU)")
    s.add_argument("--amp", default=None, choices=sorted(AMP_DTYPES),
                   help="run the float32 model under torch.autocast in this dtype (noisy batches written in it)")
    s.add_argument("--compile", action="store_true",
                   help="torch.compile the per-batch step (noise, model, count) as one graph; CUDA graphs on a GPU")
    s.add_argument("--fast", action="store_true",
                   help="choose --channels-last, --amp (native dtypes only) and --compile by timing a few batches of "
                        "this model and input shape (at most two compilations; cached on disk; prints the choice); "
                        "any of them given explicitly stays fixed")
    s.add_argument("--quiet", action="store_true", help="no progress bar")


def add_model_options(p: argparse.ArgumentParser) -> None:
    """--model package.module:factory [--weights] or --checkpoint FORMAT:PATH [--arch --normalization --dataset]."""
    g = p.add_argument_group("model (one of --model, --checkpoint)")
    which = g.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", default=None, help="package.module:factory returning an nn.Module")
    which.add_argument("--checkpoint", default=None, metavar="FORMAT:PATH",
                       help=f"a checkpoint of the field's code bases; FORMAT: {', '.join(CHECKPOINT_FORMATS)}")
    g.add_argument("--weights", default=None, help="with --model: state dict (torch.load(weights_only=True))")
    g.add_argument("--arch", default=None, help="with --checkpoint: the architecture (required for plain: "
                   "cifar_resnet110, wrn40_2, lenet, resnet50, torchvision:NAME, timm:NAME; default: the "
                   "one the format names)")
    g.add_argument("--normalization", default=None, choices=NORMALIZATIONS,
                   help="with --checkpoint: override the format's first layer (default: the format's own; cohen: "
                        "normalize, smoothadv: center)")
    g.add_argument("--dataset", default=None, choices=sorted(CHECKPOINT_DATASETS),
                   help="with --checkpoint: whose mean / std the normalization uses (default: from the arch)")


def add_data_options(p: argparse.ArgumentParser) -> None:
    """--data and the selection of its examples (Cohen's --skip and --max)."""
    g = p.add_argument_group("data")
    g.add_argument("--data", required=True, help=".pt / .npz, CIFAR python batches, an ImageNet-style ImageFolder "
                   "or MNIST idx files (the format is detected)")
    g.add_argument("--data-format", default=None, choices=DATA_FORMATS,
                   help="override the detected format (imagenet: resize 256, center crop 224; imagefolder: as is; "
                        "default: detected)")
    g.add_argument("--skip", type=int, default=1, metavar="K", help="every K-th example (Cohen's --skip)")
    g.add_argument("--max", dest="max_index", type=int, default=None, metavar="M",
                   help="only examples with index below M (Cohen's --max; default: all)")


def add_output_options(p: argparse.ArgumentParser) -> None:
    """--out, --resume and how a run under torchrun splits its work."""
    g = p.add_argument_group("output and torchrun")
    g.add_argument("--out", required=True, help="results file (TSV); a JSON summary is written beside it")
    g.add_argument("--resume", action="store_true", help="continue an interrupted run of the same configuration")
    g.add_argument("--shard", default="inputs", choices=["inputs", "samples"],
                   help="under torchrun: split the examples (default) or every example's samples across ranks")
    g.add_argument("--dist-timeout", type=float, default=dist.DEFAULT_TIMEOUT_S,
                   help="seconds before a collective gives up on a dead rank (default %(default)s)")


def check_counts(args: argparse.Namespace, certify_options: bool) -> None:
    """Sample counts and batch size >= 1, alpha in (0, 1), --limit >= 1."""
    for name in (("n0", "n") if certify_options else ("n",)) + ("batch_size",):
        if getattr(args, name) < 1:
            raise CliError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if not 0 < args.alpha < 1:
        raise CliError(f"--alpha must be in (0, 1), got {args.alpha}")
    if args.limit is not None and args.limit < 1:
        raise CliError(f"--limit must be >= 1, got {args.limit}")


def check_channels_last(args: argparse.Namespace, x: torch.Tensor) -> None:
    """--channels-last needs 4-d (image) inputs."""
    if args.channels_last and x.dim() != 4:
        raise CliError(f"--channels-last needs image inputs (N, C, H, W), got shape {tuple(x.shape)}")


def check_forward_options(args: argparse.Namespace) -> None:
    """--amp and --fast run a float32 model under autocast: no other --dtype."""
    if (args.amp or args.fast) and args.dtype != "float32":
        raise CliError(f"--amp and --fast run the float32 model under autocast; --dtype {args.dtype} cannot be added")


def resolve_device(args: argparse.Namespace) -> torch.device:
    """--device: 'auto' is this rank's GPU if there is one, else the CPU."""
    if args.device == "auto":
        return dist.local_device()
    try:
        device = torch.device(args.device)
    except RuntimeError as e:
        raise CliError(f"bad --device {args.device!r}: {e}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CliError("--device cuda was asked for but no GPU is available")
    return device


def forward_options(args: argparse.Namespace, x: torch.Tensor, dtype: torch.dtype, model=None,
                    noise=None) -> dict:
    """How the sampling calls run the model on x (on its device): --dtype, --channels-last, --amp, --compile,
    and under --fast the tuner's choice for ``model`` and ``noise`` (``fast_choice``) with the explicit ones fixed."""
    options = {"out_dtype": dtype, "channels_last": args.channels_last, "autocast": None, "compile": args.compile}
    if args.amp:
        options["autocast"] = AMP_DTYPES[args.amp]
    if args.fast:
        chosen = getattr(args, "fast_options", None)  # tuned once per run (``running``)
        if chosen is None:
            if model is None or noise is None:
                raise ValueError("--fast needs the model and the noise to time")
            chosen, _ = fast_choice(args, model, x, noise)
        options.update(chosen)
    if options["autocast"] is not None:
        options["out_dtype"] = None  # the noisy batch is written in the autocast dtype
    return options


def fast_choice(args: argparse.Namespace, model, x: torch.Tensor, noise) -> tuple[dict, Choice]:
    """--fast: the tuner's (channels_last, autocast, compile) for batches of --batch-size rows of inputs like
    x (its first one is timed), with --channels-last, --amp and --compile fixed where given."""
    return fast_options(model, x[:1], noise, batch_size=args.batch_size, channels_last=args.channels_last,
                        autocast=AMP_DTYPES[args.amp] if args.amp else None, compile=args.compile)
