"""The ``rsmooth`` command (also ``python -m rsmooth_ext``): demo, certify, predict, plot, analyze.

Every error is one line on stderr and exit code 2; a results file is only created once the model, data
and output location have been checked, and is never overwritten (``--resume`` continues it)."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time

import numpy as np
import torch

from .. import __version__
from ..certificates.routes import ADVERSARIES
from ..data import DATA_FORMATS, DataError, load_examples, unit_range_problem
from ..models import DATASET_STATS as CHECKPOINT_DATASETS
from ..models import FORMATS as CHECKPOINT_FORMATS
from ..models import NORMALIZATIONS, CheckpointError, load_checkpoint
from ..sampling import distributed as dist
from ..sampling.forward import fast_preset
from ..smooth import certify, predict
from . import sequential as cli_sequential
from .errors import CliError
from .noise_options import add_noise_options, make_noise
from .results import (
    CERTIFY_COLUMNS,
    PREDICT_COLUMNS,
    ResultsError,
    ResultsWriter,
    default_radius_grid,
    markdown_table,
    merge_results,
    plot_certified_accuracy,
    read_results,
    run_label,
    shard_files,
    summary,
)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


# ---- arguments ------------------------------------------------------------------------------------


def _add_sampling_options(p: argparse.ArgumentParser, *, certify_options: bool, defaults: dict) -> None:
    add_noise_options(p, defaults)
    s = p.add_argument_group("sampling")
    if certify_options:
        s.add_argument("--n0", type=int, default=defaults.get("n0", 100), help="selection samples")
        s.add_argument("--adversary", default=None, choices=ADVERSARIES, help="default: the noise's natural one")
        s.add_argument("--top2", action="store_true",
                       help="certify with a simultaneous upper bound on every other class (pA/pB radii)")
    s.add_argument("--n", "--num-samples", dest="n", type=int, default=defaults.get("n", 10000),
                   help="estimation samples (spell it --num-samples under torchrun, whose own options start with --n)")
    s.add_argument("--alpha", type=float, default=0.001, help="failure probability")
    s.add_argument("--batch-size", type=int, default=1000)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", default="auto", help="auto (default): cuda:LOCAL_RANK if a GPU is available, else cpu")
    s.add_argument("--dtype", default="float32", choices=sorted(DTYPES))
    s.add_argument("--limit", type=int, default=None, help="only the first N examples")
    s.add_argument("--channels-last", action="store_true",
                   help="write the noisy batches channels_last (4-d inputs; faster convolutions on CPU)")
    s.add_argument("--amp", default=None, choices=sorted(AMP_DTYPES),
                   help="run the float32 model under torch.autocast in this dtype (noisy batches written in it)")
    s.add_argument("--compile", action="store_true",
                   help="torch.compile the per-batch step (noise, model, count) as one graph; CUDA graphs on a GPU")
    s.add_argument("--fast", action="store_true",
                   help="the fastest measured combination: --channels-last (image inputs), --amp bf16 (fp16 on a "
                        "GPU without bf16), --compile")
    s.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rsmooth", description="Randomized-smoothing certification with rsmooth_ext.")
    parser.add_argument("--version", action="version", version=f"rsmooth_ext {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="train a small CNN on the bundled 8x8 digits and certify it (offline)")
    _add_sampling_options(demo, certify_options=True, defaults={"sigma": 0.5, "n": 2000})
    demo.add_argument("--out", default="rsmooth-demo", help="output directory (results TSV, JSON, PNG)")
    demo.add_argument("--train-loss", default="augment", choices=["augment", "smoothed-nll"])
    demo.add_argument("--epochs", type=int, default=30)

    for name, help_text in (("certify", "certify a model on a dataset"), ("predict", "smoothed predictions only")):
        p = sub.add_parser(name, help=help_text)
        _add_model_options(p)
        _add_data_options(p)
        p.add_argument("--out", required=True, help="results file (TSV); a JSON summary is written beside it")
        p.add_argument("--resume", action="store_true", help="continue an interrupted run of the same configuration")
        p.add_argument("--shard", default="inputs", choices=["inputs", "samples"],
                       help="under torchrun: split the examples (default) or every example's samples across ranks")
        p.add_argument("--dist-timeout", type=float, default=dist.DEFAULT_TIMEOUT_S,
                       help="seconds before a collective gives up on a dead rank (default %(default)s)")
        _add_sampling_options(p, certify_options=name == "certify", defaults={})
        if name == "certify":
            cli_sequential.add_options(p)

    _add_analyze_parser(sub)

    plot = sub.add_parser("plot", help="certified-accuracy curves of results files")
    plot.add_argument("results", nargs="+")
    plot.add_argument("--out", default="certified_accuracy.png", help="PNG file")
    return parser


def _add_model_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model (one of --model, --checkpoint)")
    which = g.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", default=None, help="package.module:factory returning an nn.Module")
    which.add_argument("--checkpoint", default=None, metavar="FORMAT:PATH",
                       help=f"a checkpoint of the field's code bases; FORMAT: {', '.join(CHECKPOINT_FORMATS)}")
    g.add_argument("--weights", default=None, help="with --model: state dict (torch.load(weights_only=True))")
    g.add_argument("--arch", default=None, help="with --checkpoint: the architecture (required for plain: "
                   "cifar_resnet110, wrn40_2, lenet, resnet50, torchvision:NAME, timm:NAME)")
    g.add_argument("--normalization", default=None, choices=NORMALIZATIONS,
                   help="with --checkpoint: override the format's first layer (cohen: normalize, smoothadv: center)")
    g.add_argument("--dataset", default=None, choices=sorted(CHECKPOINT_DATASETS),
                   help="with --checkpoint: whose mean / std the normalization uses (default: from the arch)")


def _add_data_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--data", required=True, help=".pt / .npz, CIFAR python batches, an ImageNet-style ImageFolder "
                   "or MNIST idx files (the format is detected)")
    g.add_argument("--data-format", default=None, choices=DATA_FORMATS,
                   help="override the detected format (imagenet: resize 256, center crop 224; imagefolder: as is)")
    g.add_argument("--skip", type=int, default=1, metavar="K", help="every K-th example (Cohen's --skip)")
    g.add_argument("--max", dest="max_index", type=int, default=None, metavar="M",
                   help="only examples with index below M (Cohen's --max)")


def _add_analyze_parser(sub) -> None:
    a = sub.add_parser("analyze", help="Cohen-style tables (Markdown, LaTeX) and plot of certify results")
    a.add_argument("results", nargs="+", help="results of rsmooth certify, or Cohen's TSV (idx label predict ...)")
    a.add_argument("--radii", default=None, help="comma-separated radii (default: a grid up to the largest radius)")
    a.add_argument("--labels", default=None, help="comma-separated row labels, one per file")
    a.add_argument("--markdown", default=None, help="also write the Markdown table to this file")
    a.add_argument("--latex", default=None, help="also write the LaTeX table to this file")
    a.add_argument("--plot", default=None, help="write the certified-accuracy curves (and envelope) to this PNG")


# ---- building blocks ------------------------------------------------------------------------------


def load_model(spec: str, weights: str | None) -> torch.nn.Module:
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


def load_model_from_args(args) -> torch.nn.Module:
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


def load_data(args):
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


def check_model_on_data(model, x, y, device, dtype) -> int:
    """Run the model on one example: its output fixes K; labels must lie in [0, K)."""
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


def check_writable(path: str, *, resume: bool) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise CliError(f"output directory {directory} does not exist")
    _check_directory_writable(directory)
    if os.path.exists(path) and not resume:
        raise CliError(f"{path} already exists; use --resume to continue it or choose another --out")


def _check_directory_writable(directory: str) -> None:
    """Create and remove a probe file: os.access() says yes to root even where writing fails."""
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as e:
        raise CliError(f"output directory {directory} is not writable ({e.strerror})") from None


def _device(args):
    if args.device == "auto":
        return dist.local_device()
    try:
        device = torch.device(args.device)
    except RuntimeError as e:
        raise CliError(f"bad --device {args.device!r}: {e}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CliError("--device cuda was asked for but no GPU is available")
    return device


def _check_counts(args, certify_options: bool) -> None:
    for name in (("n0", "n") if certify_options else ("n",)) + ("batch_size",):
        if getattr(args, name) < 1:
            raise CliError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if not 0 < args.alpha < 1:
        raise CliError(f"--alpha must be in (0, 1), got {args.alpha}")
    if args.limit is not None and args.limit < 1:
        raise CliError(f"--limit must be >= 1, got {args.limit}")


def _check_channels_last(args, x) -> None:
    if args.channels_last and x.dim() != 4:
        raise CliError(f"--channels-last needs image inputs (N, C, H, W), got shape {tuple(x.shape)}")


def _check_forward_options(args) -> None:
    if (args.amp or args.fast) and args.dtype != "float32":
        raise CliError(f"--amp and --fast run the float32 model under autocast; --dtype {args.dtype} cannot be added")


def _forward_options(args, x, dtype) -> dict:
    """How the sampling calls run the model on x (on its device): --dtype, --channels-last, --amp, --compile,
    --fast (``fast_preset``; an explicit --amp wins over its dtype)."""
    options = {"out_dtype": dtype, "channels_last": args.channels_last, "autocast": None, "compile": args.compile}
    if args.fast:
        preset = fast_preset(x)
        options.update(preset, channels_last=args.channels_last or preset["channels_last"])
    if args.amp:
        options["autocast"] = AMP_DTYPES[args.amp]
    if options["autocast"] is not None:
        options["out_dtype"] = None  # the noisy batch is written in the autocast dtype
    return options


def _progress(total, initial, quiet, desc):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="example", desc=desc, dynamic_ncols=True,
                disable=quiet or not sys.stderr.isatty())


def run_examples(kind, model, x, y, noise, args, todo, writer, device, dtype, *, already_done, distributed=False,
                 indices=None):
    """Certify (or predict) the examples ``todo``, one row each as it finishes (written by ``writer``,
    which is None on ranks that only help with the samples). ``todo`` holds dataset indices; ``indices``
    maps rows of ``x`` to them (None: row i is example i)."""
    row_of = None if indices is None else {index: row for row, index in enumerate(indices)}
    samples_per_example = args.n + (args.n0 if kind == "certify" else 0)
    bar = _progress(already_done + len(todo), already_done, args.quiet or writer is None, kind)
    start = time.perf_counter()
    if kind == "certify" and getattr(args, "sequential", False):
        cli_sequential.run_sequential_examples(model, x, y, noise, args, todo, writer, device, dtype, bar,
                                               row_of=row_of)
        bar.close()
        return time.perf_counter() - start
    for finished, index in enumerate(todo, start=1):
        t0 = time.perf_counter()
        row = index if row_of is None else row_of[index]
        xi = x[row : row + 1].to(device)
        ids = torch.tensor([index], device=device)
        label = int(y[row])
        common = dict(batch_size=args.batch_size, seed=args.seed, input_ids=ids, distributed=distributed,
                      **_forward_options(args, xi, dtype))
        if kind == "certify":
            labels = y[row : row + 1].to(device) if getattr(args, "skip_misclassified", False) else None
            res = certify(model, xi, noise, args.n0, args.n, args.alpha, adversary=args.adversary, labels=labels,
                          top2=getattr(args, "top2", False),
                          **common)
            prediction = int(res.prediction[0])
            row = {"index": index, "label": label, "prediction": prediction, "p_lower": float(res.p_lower[0]),
                   "radius": float(res.radius[0]), "correct": int(prediction == label)}
        else:
            prediction = int(predict(model, xi, noise, args.n, args.alpha, **common)[0])
            row = {"index": index, "label": label, "prediction": prediction, "correct": int(prediction == label)}
        row["seconds"] = round(time.perf_counter() - t0, 6)
        if writer is not None:
            writer.write(row)
        bar.update(1)
        elapsed = time.perf_counter() - start
        bar.set_postfix(samples_per_s=f"{samples_per_example * finished / max(elapsed, 1e-9):.3g}")
    bar.close()
    return time.perf_counter() - start


def _config(args, kind, noise, extra) -> dict:
    config = {"command": kind, "noise": args.noise, "sigma": args.sigma, "lambd": args.lambd, "match": args.match,
              "k": getattr(noise, "k", None), "keep": args.keep, "noise_repr": repr(noise), "n": args.n,
              "alpha": args.alpha, "seed": args.seed, "dtype": args.dtype}
    if kind == "certify":
        config.update(n0=args.n0, adversary=args.adversary or noise.natural_adversary)
        config.update(cli_sequential.config(args))
        if getattr(args, "top2", False):  # recorded only when on, so earlier results files still resume
            config["top2"] = True
    if getattr(args, "amp", None) or getattr(args, "fast", False):  # the base classifier as run under autocast
        config.update(amp=args.amp or "preset")
    config.update(extra)
    return config


def _finish(path, config, seconds, log, *, print_table=True) -> dict:
    results = read_results(path)
    result_summary = {"config": config, "seconds": round(seconds, 3), **summary(results)}
    summary_path = os.path.splitext(path)[0] + ".json"
    with open(summary_path, "w") as f:
        json.dump(result_summary, f, indent=2)
    if print_table:
        log(markdown_table({run_label(config): result_summary}))
    if "forward_passes" in result_summary:
        passes = result_summary["forward_passes"]
        log(f"forward passes: {passes['total']} in total, {passes['mean']:.6g} per example (n0 + estimation samples)")
    log(f"results: {path}\nsummary: {summary_path}")
    return result_summary


# ---- commands -------------------------------------------------------------------------------------


def cmd_run(args, kind, log) -> int:
    """certify / predict, in one process or under torchrun (sharded by input or by sample)."""
    _check_counts(args, kind == "certify")
    if kind == "certify":
        cli_sequential.check(args, CliError)
    try:
        dist.init_from_env(args.dist_timeout)
    except Exception as e:  # noqa: BLE001
        raise CliError(f"cannot join the torch.distributed process group: {type(e).__name__}: {e}") from None
    rank, world = dist.rank_and_world()
    if rank != 0:
        log = _silent
    device, dtype = _device(args), DTYPES[args.dtype]
    check_writable(args.out, resume=args.resume)
    model = load_model_from_args(args).to(device=device, dtype=dtype)
    examples = load_data(args)
    x, y, indices = examples.inputs, examples.labels, examples.indices
    check_model_on_data(model, x, y, device, dtype)
    _check_channels_last(args, x)
    _check_forward_options(args)
    noise = make_noise(args, x[0].numel())
    if kind == "certify":
        try:
            noise.certify(0.75, args.adversary, dim=x[0].numel())
        except ValueError as e:
            raise CliError(str(e)) from None
    config = _config(args, kind, noise, {"model": args.model, "weights": args.weights, "data": args.data})
    if args.checkpoint is not None:
        config.update(checkpoint=args.checkpoint, arch=args.arch, normalization=args.normalization,
                      dataset=args.dataset)
    if (args.data_format, args.skip, args.max_index) != (None, 1, None):
        config.update(data_format=args.data_format, skip=args.skip, max=args.max_index)
    columns = CERTIFY_COLUMNS if kind == "certify" else PREDICT_COLUMNS
    if kind == "certify" and args.sequential:
        if world > 1 and args.shard == "samples":
            raise CliError("--sequential splits examples, not samples, across ranks: use --shard inputs")
        columns = cli_sequential.SEQUENTIAL_COLUMNS
    if world > 1 and args.shard == "inputs":
        return _run_sharded_by_input(kind, model, x, y, noise, args, config, columns, device, dtype, rank, world, log,
                                     indices=indices)
    # one results file, written by rank 0; under --shard samples every rank draws its share of the samples
    writer = None
    parts = _existing_shards(args)
    try:
        if rank == 0:
            writer = ResultsWriter(args.out, config, columns, resume=args.resume)
            writer.done.update({i: None for i in _rows_done(parts, config)})  # a sharded run's finished rows
        done = _agree_on_done(writer, world)
    except ResultsError as e:
        raise CliError(str(e)) from None
    todo = [i for i in indices if i not in done]
    try:
        seconds = run_examples(kind, model, x, y, noise, args, todo, writer, device, dtype,
                               already_done=len(indices) - len(todo), distributed=world > 1, indices=indices)
    finally:
        if writer is not None:
            writer.close()
    if rank == 0:
        if parts:
            merge_results(args.out, config, columns)
        _finish(args.out, config, seconds, log)
    return 0


def _existing_shards(args) -> list[str]:
    """Shards of an earlier sharded run: continued with --resume, refused otherwise."""
    parts = shard_files(args.out)
    if parts and not args.resume:
        raise CliError(f"unfinished shards of an earlier run exist ({os.path.basename(parts[0])}, ...); "
                       "use --resume to continue them or choose another --out")
    return parts


def _rows_done(paths: list[str], config: dict) -> set:
    """Indices finished in these results files, which must come from the same configuration."""
    done = set()
    for path in paths:
        existing = read_results(path)
        if existing.config != config:
            raise CliError(f"{path} was written by a different configuration; use another --out or drop --resume")
        done.update(int(row["index"]) for row in existing.rows)
    return done


def _silent(*args, **kwargs):
    pass


def _agree_on_done(writer, world) -> set:
    """The indices already in the results file, as rank 0 read them, on every rank."""
    done = [sorted(writer.done) if writer is not None else None]
    if world > 1:
        torch.distributed.broadcast_object_list(done, src=0)
    return set(done[0])


def part_path(out: str, rank: int) -> str:
    return f"{out}.part{rank}"


def _run_sharded_by_input(kind, model, x, y, noise, args, config, columns, device, dtype, rank, world, log, *,
                          indices):
    """Each rank certifies its share of the examples not yet done into its own part file; rank 0 then
    merges the parts (and any earlier merged file) into the results file, in dataset order."""
    parts = _existing_shards(args)
    try:
        done = _rows_done(([args.out] if os.path.exists(args.out) else []) + parts, config)
        remaining = [i for i in indices if i not in done]
        mine = remaining[rank::world]
        torch.distributed.barrier()  # every rank has read the existing shards before any is created
        writer = ResultsWriter(part_path(args.out, rank), config, columns,
                               resume=os.path.exists(part_path(args.out, rank)))
    except ResultsError as e:
        raise CliError(str(e)) from None
    try:
        seconds = run_examples(kind, model, x, y, noise, args, mine, writer, device, dtype,
                               already_done=len(indices) - len(remaining), indices=indices)
    finally:
        writer.close()
    try:
        torch.distributed.barrier()
    except Exception as e:  # noqa: BLE001 - a dead or timed-out rank surfaces here
        raise CliError(f"rank {rank}: waiting for the other ranks failed ({type(e).__name__}: "
                       f"{str(e).splitlines()[0] if str(e) else 'timeout'}); finished rows are kept in "
                       f"{args.out}.part*: rerun with --resume") from None
    if rank == 0:
        merge_results(args.out, config, columns)
        _finish(args.out, config, seconds, log)
    torch.distributed.barrier()
    return 0


def cmd_demo(args, log) -> int:
    from ..demo import load_digits_split, train_digits_model

    _check_counts(args, True)
    device, dtype = _device(args), DTYPES[args.dtype]
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as e:
        raise CliError(f"cannot create output directory {args.out} ({e.strerror})") from None
    _check_directory_writable(args.out)
    _, _, x, y = load_digits_split()
    if args.limit is not None:
        x, y = x[: args.limit], y[: args.limit]
    _check_channels_last(args, x)
    _check_forward_options(args)
    noise = make_noise(args, x[0].numel(), default_sigma=0.5)
    try:
        noise.certify(0.75, args.adversary, dim=x[0].numel())
    except ValueError as e:
        raise CliError(str(e)) from None
    log(f"rsmooth demo: {len(x)} held-out 8x8 digits, noise {noise!r}, n0={args.n0}, n={args.n}, alpha={args.alpha}")
    model = train_digits_model(noise, train_loss=args.train_loss, epochs=args.epochs, seed=args.seed, log=log,
                               quiet=args.quiet)
    model = model.to(device=device, dtype=dtype)
    level = f"sigma{args.sigma if args.sigma is not None else 0.5:g}" if args.lambd is None else f"lambd{args.lambd:g}"
    path = os.path.join(args.out, f"certify-{args.noise}-{level}.tsv")
    if os.path.exists(path):
        os.unlink(path)  # the demo's own output of an earlier run
    config = _config(args, "certify", noise, {"model": "demo digits CNN", "train_loss": args.train_loss,
                                              "data": "sklearn digits (held-out 20%)"})
    writer = ResultsWriter(path, config, CERTIFY_COLUMNS, resume=False)
    try:
        seconds = run_examples("certify", model, x, y, noise, args, list(range(len(x))), writer, device, dtype,
                               already_done=0)
    finally:
        writer.close()
    result = _finish(path, config, seconds, log)
    png = os.path.splitext(path)[0] + ".png"
    plot_certified_accuracy([path], png)
    log(f"plot: {png}\ncertified {result['examples']} examples in {seconds:.1f} s")
    return 0


def cmd_plot(args, log) -> int:
    for path in args.results:
        if not os.path.isfile(path):
            raise CliError(f"results file {path} does not exist")
    directory = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(directory):
        raise CliError(f"output directory {directory} does not exist")
    _check_directory_writable(directory)
    try:
        summaries = plot_certified_accuracy(args.results, args.out)
    except ResultsError as e:
        raise CliError(str(e)) from None
    log(markdown_table(summaries))
    log(f"plot: {args.out}")
    return 0


def cmd_analyze(args, log) -> int:
    from . import analysis as analyze

    try:
        radii = analyze.parse_radii(args.radii) if args.radii is not None else None
    except ValueError as e:
        raise CliError(f"--radii: {e}") from None
    labels = [s.strip() for s in args.labels.split(",")] if args.labels is not None else None
    if labels is not None and len(labels) != len(args.results):
        raise CliError(f"--labels must name each of the {len(args.results)} results files, got {len(labels)}")
    for out in (args.markdown, args.latex, args.plot):
        if out is not None:
            check_writable(out, resume=True)
    runs = analyze.read_runs(args.results, labels)
    if radii is None:
        top = max([float(r.radius[r.correct].max()) for r in runs if r.correct.any()] or [1.0])
        radii = default_radius_grid(np.array([top]))
    markdown, latex = analyze.markdown_table(runs, radii), analyze.latex_table(runs, radii)
    log(markdown)
    log(analyze.TABLE_NOTE)
    for path, text in ((args.markdown, markdown), (args.latex, latex)):
        if path is not None:
            with open(path, "w") as f:
                f.write(text + "\n")
            log(f"wrote {path}")
    if args.plot is not None:
        analyze.plot_certified_accuracy(runs, args.plot)
        log(f"plot: {args.plot}")
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    log = print
    try:
        if args.command == "demo":
            return cmd_demo(args, log)
        if args.command in ("certify", "predict"):
            try:
                return cmd_run(args, args.command, log)
            finally:
                dist.shutdown()
        if args.command == "analyze":
            return cmd_analyze(args, log)
        return cmd_plot(args, log)
    except (CliError, ResultsError) as e:
        print(f"rsmooth: error: {e}", file=sys.stderr)
        return 2
    except FloatingPointError as e:
        print(f"rsmooth: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rsmooth: interrupted; finished rows are kept (continue with --resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
