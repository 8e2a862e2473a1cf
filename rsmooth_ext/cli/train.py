"""``rsmooth train``: train a base classifier under the noise it will be certified with (any registered method),
with Cohen et al.'s optimiser, log and checkpoint (``rsmooth certify --checkpoint cohen:OUT/checkpoint.pth.tar``).

The model is ``--arch`` (from rsmooth_ext.models, torchvision:NAME or timm:NAME, built in Cohen's layout:
normalization layer, then the network) or ``--model package.module:factory`` (as ``rsmooth certify``). The data
is ``--data``: a CIFAR or MNIST directory (its training split; the test split for the per-epoch test), a
tensor file or image folder with ``--test-data``, or ``digits`` (scikit-learn's bundled 8x8 digits).

Under torchrun the run is data parallel (DistributedDataParallel; gloo on CPUs, NCCL with one GPU per local
rank): each rank trains on its share of every global batch, and rank 0 alone writes the log and checkpoints
(see ``rsmooth_ext.train.loop``)."""

from __future__ import annotations

import argparse
import math
import os

import torch

from ..data import DATA_FORMATS, SPLITS, TRAIN_AUGMENTATIONS, DataError, Examples, load_examples, unit_range_problem
from ..models import DATASET_STATS, NORMALIZATIONS
from ..sampling import distributed as dist
from ..train import METHODS, CertifyEvery, Schedule, TrainError, get_method, train
from .errors import CliError
from .loading import load_model
from .noise_options import add_noise_options, make_noise
from .options import AMP_DTYPES, resolve_device
from .running import join_torchrun

DIGITS = "digits"
COHEN_DEFAULTS = {"epochs": 90, "batch_size": 256, "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4,
                  "lr_step_size": 30, "lr_gamma": 0.1}


def _method_help() -> str:
    parts = []
    for m in METHODS.values():
        hps = ", ".join(f"{h.name}={h.default:g}" for h in m.hyperparameters)
        parts.append(f"{m.name} ({hps})")
    return "training method and its hyperparameters' defaults: " + "; ".join(parts)


def add_parser(sub) -> argparse.ArgumentParser:
    """Add the ``train`` subcommand to the argparse subparsers ``sub``."""
    p = sub.add_parser("train", help="train a base classifier under noise (Gaussian, stability, consistency, ...)",
                       description="Train a base classifier under the noise it will be certified with, with Cohen "
                                   "et al.'s optimiser, per-epoch log and checkpoint (resumable bit for bit).")
    g = p.add_argument_group("method")
    g.add_argument("--method", default="gaussian", choices=sorted(METHODS), help=_method_help())
    g.add_argument("--hp", action="append", default=[], metavar="NAME=VALUE",
                   help="a hyperparameter of the method, e.g. --hp m=4 --hp lambd=10 (default: the paper's)")
    m = p.add_argument_group("model (one of --arch, --model)")
    which = m.add_mutually_exclusive_group(required=True)
    which.add_argument("--arch", default=None, help="cifar_resnet110, cifar_resnet20, wrn40_2, lenet, resnet50, "
                       "torchvision:NAME, timm:NAME (Cohen's layout: normalization layer, then the network)")
    which.add_argument("--model", default=None, help="package.module:factory returning an nn.Module")
    m.add_argument("--weights", default=None, help="with --model: initial state dict")
    m.add_argument("--normalization", default="normalize", choices=NORMALIZATIONS,
                   help="with --arch: the first layer (Cohen's normalize)")
    m.add_argument("--dataset", default=None, choices=sorted(DATASET_STATS),
                   help="with --arch: whose mean / std the normalization uses (default: from the arch)")
    m.add_argument("--num-classes", type=int, default=None, help="with --arch: outputs (default: from the labels)")
    d = p.add_argument_group("data")
    d.add_argument("--data", required=True, help=f"training data: a CIFAR / MNIST directory, a .pt / .npz file, an "
                   f"ImageFolder, or {DIGITS!r} (the bundled 8x8 digits)")
    d.add_argument("--data-format", default=None, choices=DATA_FORMATS, help="override the detected format")
    d.add_argument("--test-data", default=None,
                   help="test data (default: the test split of --data; required for tensor files and image folders)")
    d.add_argument("--augment", default="auto", choices=("auto",) + TRAIN_AUGMENTATIONS,
                   help="train augmentation; auto: CIFAR crop (padding 4) + flip, ImageNet resized crop + flip, "
                        "else none")
    d.add_argument("--limit", type=int, default=None, help="only the first N training examples (default: all)")
    d.add_argument("--test-limit", type=int, default=None, help="only the first N test examples (default: all)")
    add_noise_options(p, {})
    o = p.add_argument_group("optimiser (Cohen et al.'s defaults)")
    o.add_argument("--epochs", type=int, default=COHEN_DEFAULTS["epochs"], help="epochs")
    o.add_argument("--batch-size", "--batch", dest="batch_size", type=int, default=COHEN_DEFAULTS["batch_size"],
                   help="examples per step (each gives the method's m noisy copies)")
    o.add_argument("--lr", type=float, default=COHEN_DEFAULTS["lr"], help="SGD learning rate")
    o.add_argument("--momentum", type=float, default=COHEN_DEFAULTS["momentum"], help="SGD momentum")
    o.add_argument("--weight-decay", type=float, default=COHEN_DEFAULTS["weight_decay"], help="SGD weight decay")
    o.add_argument("--lr-step-size", type=int, default=COHEN_DEFAULTS["lr_step_size"],
                   help="multiply the learning rate by --lr-gamma every this many epochs")
    o.add_argument("--lr-gamma", type=float, default=COHEN_DEFAULTS["lr_gamma"], help="step decay factor")
    r = p.add_argument_group("run")
    r.add_argument("--out", required=True, help="run directory: log, checkpoint.pth.tar, certify.tsv")
    r.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    r.add_argument("--seed", type=int, default=0, help="seed of the data order, augmentation and noise")
    r.add_argument("--device", default="auto", help="auto: the GPU if there is one, else cpu")
    r.add_argument("--amp", default=None, choices=sorted(AMP_DTYPES), help="torch.autocast in this dtype")
    r.add_argument("--channels-last", action="store_true", help="channels_last model and batches (image inputs)")
    r.add_argument("--compile", action="store_true", help="torch.compile the model's forward")
    r.add_argument("--test-batch-size", type=int, default=None, help="test batch (default: --batch-size)")
    r.add_argument("--certify-every", type=int, default=None, metavar="K",
                   help="every K epochs certify the first --certify-examples test inputs at small n (default: never)")
    r.add_argument("--certify-examples", type=int, default=100, help="with --certify-every: test inputs")
    r.add_argument("--certify-n0", type=int, default=100, help="with --certify-every: selection samples")
    r.add_argument("--certify-n", type=int, default=1000, help="with --certify-every: estimation samples")
    r.add_argument("--certify-alpha", type=float, default=0.001, help="with --certify-every: failure probability")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.add_argument("--dist-timeout", type=float, default=dist.DEFAULT_TIMEOUT_S,
                   help="under torchrun: seconds before a collective gives up on a dead rank (default %(default)s)")
    return p


def parse_hparams(items: list[str], method: str) -> dict:
    """--hp NAME=VALUE items as {name: int or float}; the method's check comes after."""
    values = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name or not text:
            raise CliError(f"--hp must look like NAME=VALUE, got {item!r}")
        try:
            number = int(text) if text.lstrip("+-").isdigit() else float(text)
        except ValueError:
            raise CliError(f"--hp {name}: {text!r} is not a number") from None
        if name in values:
            raise CliError(f"--hp {name} is given twice")
        values[name] = number
    try:
        return get_method(method).resolve(values)
    except (ValueError, TypeError) as e:
        raise CliError(str(e)) from None


def _limited(examples: Examples, limit: int | None, flag: str) -> Examples:
    if limit is None:
        return examples
    if limit < 1:
        raise CliError(f"{flag} must be >= 1, got {limit}")
    return Examples(examples.inputs[:limit], examples.labels[:limit], examples.indices[:limit])


def load_train_and_test(args: argparse.Namespace) -> tuple[Examples, Examples]:
    """The training and test examples of --data / --test-data (checked to lie in [0, 1])."""
    if args.data == DIGITS and not os.path.exists(DIGITS):
        from ..demo import load_digits_split

        x_train, y_train, x_test, y_test = load_digits_split()
        train_set = Examples(x_train, y_train, list(range(len(x_train))))
        test_set = Examples(x_test, y_test, list(range(len(x_test))))
    else:
        try:
            train_set = load_examples(args.data, args.data_format, split=SPLITS[1])
            if args.test_data is not None:
                test_set = load_examples(args.test_data, args.data_format)
            elif os.path.isdir(args.data) and (args.data_format or "") not in ("imagenet", "imagefolder"):
                test_set = load_examples(args.data, args.data_format, split=SPLITS[0])
            else:
                raise CliError(f"--data {args.data} has no separate test split: give --test-data")
        except (DataError, ValueError) as e:
            raise CliError(str(e)) from None
    train_set = _limited(train_set, args.limit, "--limit")
    test_set = _limited(test_set, args.test_limit, "--test-limit")
    for where, examples in ((args.data, train_set), (args.test_data or args.data, test_set)):
        problem = unit_range_problem(examples.inputs, where)
        if problem is not None:
            raise CliError(problem)
    return train_set, test_set


def build_model(args: argparse.Namespace, train_set: Examples, test_set: Examples) -> torch.nn.Module:
    """--arch in Cohen's layout (with --num-classes, default from the labels) or --model FACTORY [--weights]."""
    if args.model is not None:
        for flag, default in (("dataset", None), ("num_classes", None)):
            if getattr(args, flag) != default:
                raise CliError(f"--{flag.replace('_', '-')} applies to --arch, not to --model")
        return load_model(args.model, args.weights)
    if args.weights is not None:
        raise CliError("--weights applies to --model; resume an --arch run with --resume")
    from ..models.checkpoints import CheckpointError, cohen_model

    classes = args.num_classes
    if classes is None:
        classes = max(int(train_set.labels.max()), int(test_set.labels.max())) + 1
        classes = 10 if classes <= 10 else classes  # the field's CIFAR-10 / MNIST networks have 10 outputs
    elif classes < 2:
        raise CliError(f"--num-classes must be >= 2, got {classes}")
    torch.manual_seed(args.seed)  # the initial weights
    try:
        return cohen_model(args.arch, classes, args.dataset, args.normalization)
    except (CheckpointError, ValueError, ImportError) as e:
        raise CliError(f"--arch {args.arch}: {e}") from None


def run(args: argparse.Namespace, log) -> int:
    """Run ``rsmooth train``, in one process or data parallel under torchrun; 0 on success (errors raise
    CliError)."""
    try:
        return _run(args, log)
    finally:
        dist.shutdown()


def _run(args: argparse.Namespace, log) -> int:
    if not args.dist_timeout > 0:
        raise CliError(f"--dist-timeout must be > 0 seconds, got {args.dist_timeout}")
    log, rank, world = join_torchrun(args, log)
    distributed = world > 1
    hparams = parse_hparams(args.hp, args.method)
    for flag in ("epochs", "batch_size", "lr_step_size"):
        if getattr(args, flag) < 1:
            raise CliError(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(args, flag)}")
    if args.certify_every is not None and args.certify_every < 1:
        raise CliError(f"--certify-every must be >= 1, got {args.certify_every}")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise CliError(f"--out {args.out} exists and is not a directory")
    device = resolve_device(args)
    train_set, test_set = load_train_and_test(args)
    dim = math.prod(train_set.inputs.shape[1:])
    noise = make_noise(args, dim)
    model = build_model(args, train_set, test_set)
    schedule = Schedule(args.lr, args.momentum, args.weight_decay, args.lr_step_size, args.lr_gamma)
    every = None
    if args.certify_every is not None:
        every = CertifyEvery(args.certify_every, args.certify_examples, args.certify_n0, args.certify_n,
                             args.certify_alpha)
    log(f"rsmooth train: method {args.method} {hparams}, noise {noise!r}, {len(train_set)} training and "
        f"{len(test_set)} test examples of shape {tuple(train_set.inputs.shape[1:])}, {args.epochs} epochs, out "
        f"{args.out}" + (f", data parallel on {world} ranks" if distributed else ""))
    try:
        result = train(model, train_set, test_set, noise, method=args.method, hparams=hparams, epochs=args.epochs,
                       seed=args.seed, out=args.out, resume=args.resume, batch_size=args.batch_size,
                       schedule=schedule, augmentation=None if args.augment == "auto" else args.augment,
                       arch=args.arch or args.model, amp=args.amp, channels_last=args.channels_last,
                       compile=args.compile, device=device, test_batch_size=args.test_batch_size, certify_every=every,
                       log=log, progress=not args.quiet, distributed=distributed)
    except (TrainError, ValueError, TypeError) as e:
        raise CliError(str(e)) from None
    from ..models import COHEN_ARCHS

    if args.arch in COHEN_ARCHS:
        log(f"checkpoint: {result.checkpoint} (rsmooth certify --checkpoint cohen:{result.checkpoint})")
    else:
        log(f"checkpoint: {result.checkpoint} (Cohen's format; its 'state_dict' fits {args.arch or args.model})")
    return 0
