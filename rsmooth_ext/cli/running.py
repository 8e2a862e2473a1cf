"""The run loop of ``rsmooth certify`` / ``predict`` (and the demo's certification): one results row per
example as it finishes, the run's configuration (what a resume must match), resuming an interrupted run,
the two ways of splitting a run under torchrun (by input: a shard file per rank, merged by rank 0; by
sample: every rank draws its share of each example's samples), and the end-of-run summary."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable

import torch

from ..noises import Noise
from ..sampling import distributed as dist
from ..smooth import certify, predict
from . import sequential as cli_sequential
from .errors import CliError
from .loading import check_model_on_data, load_data, load_model_from_args
from .noise_options import make_noise
from .options import (
    DTYPES,
    check_channels_last,
    check_counts,
    check_forward_options,
    fast_choice,
    forward_options,
    resolve_device,
)
from .paths import check_writable
from .report import markdown_table
from .results import (
    CERTIFY_COLUMNS,
    PREDICT_COLUMNS,
    ResultsError,
    ResultsWriter,
    merge_results,
    part_path,
    read_results,
    run_of,
    shard_files,
    summary,
    summary_radii,
)

Log = Callable[[str], None]


def run_command(args: argparse.Namespace, kind: str, log: Log) -> int:
    """certify / predict, in one process or under torchrun (sharded by input or by sample)."""
    try:
        return _run(args, kind, log)
    finally:
        dist.shutdown()


def _run(args: argparse.Namespace, kind: str, log: Log) -> int:
    check_counts(args, kind == "certify")
    if kind == "certify":
        cli_sequential.check(args, CliError)
    log, rank, world = join_torchrun(args, log)
    device, dtype, model, x, y, indices, noise = load_run(args)
    if kind == "certify":
        check_certificate_exists(noise, args.adversary, x[0].numel())
    if args.fast and len(x):
        args.fast_options = _agreed_fast_options(args, model, x[:1].to(device), noise, world, log)
    config = command_config(args, kind, noise)
    columns = CERTIFY_COLUMNS if kind == "certify" else PREDICT_COLUMNS
    if kind == "certify" and args.sequential:
        if world > 1 and args.shard == "samples":
            raise CliError("--sequential splits examples, not samples, across ranks: use --shard inputs")
        columns = cli_sequential.SEQUENTIAL_COLUMNS
    if kind == "certify" and getattr(args, "top2", False):
        columns = cli_sequential.with_top2_column(columns)
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
        finish(args.out, config, seconds, log)
    return 0


def _agreed_fast_options(args, model, x1, noise, world: int, log: Log) -> dict:
    """--fast: the tuner's choice (its line printed); under torchrun every rank takes rank 0's, so every rank
    runs the same base classifier."""
    options, choice = fast_choice(args, model, x1, noise)
    log(choice.summary())
    if world > 1:
        shared = [options]
        torch.distributed.broadcast_object_list(shared, src=0)
        options = shared[0]
    return options


def check_certificate_exists(noise: Noise, adversary: str | None, dim: int) -> None:
    """Fail before any sampling when the noise has no certificate against the adversary."""
    try:
        noise.certify(0.75, adversary, dim=dim)
    except ValueError as e:
        raise CliError(str(e)) from None


def _progress(total: int, initial: int, quiet: bool, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="example", desc=desc, dynamic_ncols=True,
                disable=quiet or not sys.stderr.isatty())


def run_examples(kind: str, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, noise: Noise,
                 args: argparse.Namespace, todo: list[int], writer: ResultsWriter | None, device: torch.device,
                 dtype: torch.dtype, *, already_done: int, distributed: bool = False,
                 indices: list[int] | None = None) -> float:
    """Certify (or predict) the examples ``todo``, one row each as it finishes (written by ``writer``,
    which is None on ranks that only help with the samples). ``todo`` holds dataset indices; ``indices``
    maps rows of ``x`` to them (None: row i is example i). Returns the seconds it took."""
    row_of = None if indices is None else {index: row for row, index in enumerate(indices)}
    samples_per_example = args.n + (args.n0 if kind == "certify" else 0)
    bar = _progress(already_done + len(todo), already_done, args.quiet or writer is None, kind)
    start = time.perf_counter()
    if kind == "certify" and getattr(args, "sequential", False):
        cli_sequential.run_sequential_examples(model, x, y, noise, args, todo, writer, device, dtype, bar,
                                               row_of=row_of)
        bar.close()
        return time.perf_counter() - start
    group_size = examples_per_call(args, kind)
    finished = 0
    for start_of_group in range(0, len(todo), group_size):
        t0 = time.perf_counter()
        group = todo[start_of_group : start_of_group + group_size]
        positions = group if row_of is None else [row_of[index] for index in group]
        xs = x[positions].to(device)
        ids = torch.tensor(group, device=device)
        common = dict(batch_size=args.batch_size, seed=args.seed, input_ids=ids, distributed=distributed,
                      **forward_options(args, xs, dtype, model, noise))
        if kind == "certify":
            labels = y[positions].to(device) if getattr(args, "skip_misclassified", False) else None
            res = certify(model, xs, noise, args.n0, args.n, args.alpha, adversary=args.adversary, labels=labels,
                          top2=getattr(args, "top2", False), **common)
            predictions = res.prediction.tolist()
        else:
            predictions = predict(model, xs, noise, args.n, args.alpha, **common).tolist()
        seconds = round((time.perf_counter() - t0) / len(group), 6)
        for j, index in enumerate(group):
            label, prediction = int(y[positions[j]]), int(predictions[j])
            row = {"index": index, "label": label, "prediction": prediction}
            if kind == "certify":
                row.update(p_lower=float(res.p_lower[j]), radius=float(res.radius[j]))
                if res.p_upper_others is not None:
                    row["p_upper_others"] = float(res.p_upper_others[j])
            row.update(correct=int(prediction == label), seconds=seconds)
            if writer is not None:
                writer.write(row)
        finished += len(group)
        bar.update(len(group))
        elapsed = time.perf_counter() - start
        bar.set_postfix(samples_per_s=f"{samples_per_example * finished / max(elapsed, 1e-9):.3g}")
    bar.close()
    return time.perf_counter() - start


def join_torchrun(args: argparse.Namespace, log: Log) -> tuple[Log, int, int]:
    """Join torchrun's process group when launched by it (a no-op otherwise): (this rank's log, silent but on
    rank 0; rank; world size)."""
    try:
        dist.init_from_env(args.dist_timeout)
    except Exception as e:  # noqa: BLE001
        raise CliError(f"cannot join the torch.distributed process group: {type(e).__name__}: {e}") from None
    rank, world = dist.rank_and_world()
    return (log if rank == 0 else _silent), rank, world


def load_run(args: argparse.Namespace):
    """What a command that reads --model / --checkpoint, --data and the noise options runs on, every check done
    before any row is written: (device, dtype, model on the device, inputs, labels, example indices, noise)."""
    device, dtype = resolve_device(args), DTYPES[args.dtype]
    check_writable(args.out, resume=args.resume)
    model = load_model_from_args(args).to(device=device, dtype=dtype)
    examples = load_data(args)
    x, y, indices = examples.inputs, examples.labels, examples.indices
    check_model_on_data(model, x, y, device, dtype)
    check_channels_last(args, x)
    check_forward_options(args)
    noise = make_noise(args, x[0].numel())
    try:  # a sound spec's grid check (sampling repeats it per call)
        noise.prepare_input(x)
    except ValueError as e:
        raise CliError(f"--sound: {e}") from None
    return device, dtype, model, x, y, indices, noise


def command_config(args: argparse.Namespace, kind: str, noise: Noise) -> dict:
    """``run_config`` of a command that reads --model / --checkpoint and --data: with the model and the examples."""
    config = run_config(args, kind, noise, {"model": args.model, "weights": args.weights, "data": args.data})
    if args.checkpoint is not None:
        config.update(checkpoint=args.checkpoint, arch=args.arch, normalization=args.normalization,
                      dataset=args.dataset)
    if (args.data_format, args.skip, args.max_index) != (None, 1, None):
        config.update(data_format=args.data_format, skip=args.skip, max=args.max_index)
    return config


def examples_per_call(args: argparse.Namespace, kind: str) -> int:
    """Examples certified (or predicted) by one call: as many as the smallest phase's samples fit in one batch
    (e.g. 10 at --n0 100 and --batch-size 1000), so the selection of several examples shares a forward pass.
    Every sample is a function of (seed, example index, sample index, phase): the rows are those of one
    example per call; a row's ``seconds`` is its group's time shared equally."""
    smallest = min(args.n0, args.n) if kind == "certify" else args.n
    return max(1, args.batch_size // smallest)


def run_config(args: argparse.Namespace, kind: str, noise: Noise, extra: dict) -> dict:
    """The configuration recorded on a results file's first line: what a --resume must match."""
    config = {"command": kind, "noise": args.noise, "sigma": args.sigma, "lambd": args.lambd, "match": args.match,
              "k": getattr(noise, "k", None), "keep": args.keep, "noise_repr": repr(noise), "n": args.n,
              "alpha": args.alpha, "seed": args.seed, "dtype": args.dtype}
    if kind == "certify":
        config.update(n0=args.n0, adversary=args.adversary or noise.natural_adversary)
        config.update(cli_sequential.config(args))
        if getattr(args, "top2", False):  # recorded only when on, so earlier results files still resume
            config["top2"] = True
    if noise.mode == "sound":  # recorded only when on, so earlier (float-mode) results files still resume
        config.update(mode="sound", grid=noise.grid, clip=noise.clip, quantize=noise.quantize)
    if getattr(args, "amp", None) or getattr(args, "fast", False):  # the base classifier as run under autocast
        config.update(amp=args.amp or "preset")
    config.update(extra)
    return config


def finish(path: str, config: dict, seconds: float, log: Log) -> dict:
    """Write the JSON summary beside the results file and print the certified-accuracy table (the one of
    ``rsmooth analyze``), the clean accuracy and abstention rate, and where the files are."""
    results = read_results(path)
    certified = "radius" in results.columns
    radii = summary_radii(results) if certified else None
    result_summary = {"config": config, "seconds": round(seconds, 3), **summary(results, radii)}
    summary_path = os.path.splitext(path)[0] + ".json"
    with open(summary_path, "w") as f:
        json.dump(result_summary, f, indent=2)
    if certified:
        log(markdown_table([run_of(results, path)], radii))
    log(f"{result_summary['examples']} examples: smoothed accuracy {result_summary['accuracy']:.3f}, "
        f"abstained {result_summary['abstention_rate']:.3f}")
    if "forward_passes" in result_summary:
        passes = result_summary["forward_passes"]
        log(f"forward passes: {passes['total']} in total, {passes['mean']:.6g} per example (n0 + estimation samples)")
    log(f"results: {path}\nsummary: {summary_path}")
    return result_summary


# ---- resume and torchrun --------------------------------------------------------------------------


def _existing_shards(args: argparse.Namespace) -> list[str]:
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


def _silent(*args, **kwargs) -> None:
    pass


def _agree_on_done(writer: ResultsWriter | None, world: int) -> set:
    """The indices already in the results file, as rank 0 read them, on every rank."""
    done = [sorted(writer.done) if writer is not None else None]
    if world > 1:
        torch.distributed.broadcast_object_list(done, src=0)
    return set(done[0])


def _run_sharded_by_input(kind, model, x, y, noise, args, config, columns, device, dtype, rank, world, log, *,
                          indices) -> int:
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
        finish(args.out, config, seconds, log)
    torch.distributed.barrier()
    return 0
