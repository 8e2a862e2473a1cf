"""``train``: the training loop behind ``rsmooth train`` (Cohen et al.'s train.py, with any registered method).

Defaults are Cohen et al.'s: SGD with learning rate 0.1, momentum 0.9, weight decay 1e-4, the learning rate
times 0.1 every 30 epochs, batch 256, 90 epochs. Each epoch appends a row to ``out/log`` in Cohen's
columns (epoch, time, lr, train loss, train acc, test loss, test acc, the test accuracy under one noisy copy
per test input) and writes ``out/checkpoint.pth.tar`` in Cohen's format (``{'epoch', 'arch', 'state_dict',
'optimizer'}``, plus the run's configuration under ``'rsmooth'``), which ``rsmooth certify --checkpoint
cohen:PATH`` loads for Cohen's architectures.

Reproducibility: the data order, the augmentation, the model's own randomness (dropout) and the noise of
epoch e are pure functions of (seed, e) (``epoch_seed``), and the noise of an example of its dataset index
and copy index. A run resumed from the checkpoint of epoch e (``resume=True``) therefore repeats epochs
e, e+1, ... exactly: on the CPU its weights are bit for bit those of an uninterrupted run.

Data parallel (``distributed=True`` under torchrun, ``rsmooth train`` launched by torchrun): the epoch's
global order and batches are those of one process; each rank takes its contiguous share of every global batch
(the examples keep their dataset indices, so their noise is the single-process noise; the augmentation is
drawn for the whole global batch, so it is too), and the model is wrapped in DistributedDataParallel with the
share's loss weighted so that the averaged gradient is the whole batch's (``sharding.Share``; exact for a
loss that is a mean over the batch's examples, as every registered method's is). The test pass
is split by example; the log's losses and accuracies are sums reduced over the ranks. Only rank 0 writes the
log, the checkpoints and certify.tsv, and shows the progress bar; a resumed run loads the checkpoint on every
rank (``out`` must be visible to all of them). BatchNorm stays per rank (DDP's default: batch statistics of
the rank's share, running statistics broadcast from rank 0), and so does the model's own randomness (dropout):
for such models a data-parallel run differs slightly from a single process; for others it matches it up to
float rounding (the reduction order differs; with ReLU / max-pool kinks a rounding difference can still move an
activation across a kink and grow, as it would in one process)."""

from __future__ import annotations

import dataclasses
import gc
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .._checks import check_int
from ..data import TRAIN_AUGMENTATIONS, Examples, augment_batch, default_augmentation
from ..noises import Noise
from ..sampling import distributed as dist
from .copies import NoisyCopies, epoch_seed
from .methods import Method, get_method
from .sharding import agree_on_error, range_share, reduced_sums, share_of

LOG_HEADER = "epoch\ttime\tlr\ttrain loss\ttrain acc\ttestloss\ttest acc"  # Cohen et al.'s train.py
CHECKPOINT_NAME = "checkpoint.pth.tar"  # Cohen et al.'s name
CERTIFY_HEADER = "epoch\texamples\tn0\tn\talpha\tcertified accuracy (radius 0)\tACR"
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class TrainError(ValueError):
    """A training run that cannot start: bad arguments, data, model or checkpoint."""


@dataclass
class TrainResult:
    """What ``train`` returns: the trained model (eval mode), one dict per epoch of this call (the log's
    columns) and the checkpoint's path (None without ``out``)."""

    model: torch.nn.Module
    history: list[dict] = field(default_factory=list)
    checkpoint: str | None = None
    certified: list[dict] = field(default_factory=list)


def as_examples(data, name: str) -> Examples:
    """``data`` (an Examples, or a pair (inputs, labels), or a triple with the dataset indices) as Examples."""
    if isinstance(data, Examples):
        return data
    if isinstance(data, (tuple, list)) and len(data) in (2, 3):
        x, y = data[0], data[1]
        if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
            raise TypeError(f"{name} must hold tensors (inputs, labels), got {type(x).__name__}, {type(y).__name__}")
        indices = list(range(len(x))) if len(data) == 2 else [int(i) for i in data[2]]
        if y.dim() != 1 or len(y) != len(x) or len(indices) != len(x):
            raise ValueError(f"{name}: {len(x)} inputs need {len(x)} labels (and indices), got labels of shape "
                             f"{tuple(y.shape)} and {len(indices)} indices")
        if not x.is_floating_point() or y.dtype.is_floating_point:
            raise TypeError(f"{name}: inputs must be floating point and labels integers, got {x.dtype}, {y.dtype}")
        return Examples(x.float(), y.long(), indices)
    raise TypeError(f"{name} must be rsmooth_ext.data.Examples or a pair (inputs, labels), got {type(data).__name__}")


def _check_real(name: str, value, low: float, *, open_low: bool = False, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise TypeError(f"{name} must be a finite number, got {value!r}")
    value = float(value)
    if (value <= low if open_low else value < low) or (high is not None and value > high):
        bound = f"{'>' if open_low else '>='} {low:g}" + ("" if high is None else f" and <= {high:g}")
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return value


@dataclass(frozen=True)
class Schedule:
    """SGD and its step decay: the learning rate of epoch e is lr * lr_gamma ** (e // lr_step_size)."""

    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    lr_step_size: int = 30
    lr_gamma: float = 0.1

    def check(self) -> Schedule:
        _check_real("lr", self.lr, 0.0, open_low=True)
        _check_real("momentum", self.momentum, 0.0, high=1.0)
        _check_real("weight_decay", self.weight_decay, 0.0)
        check_int("lr_step_size", self.lr_step_size, 1)
        _check_real("lr_gamma", self.lr_gamma, 0.0, open_low=True, high=1.0)
        return self

    def lr_at(self, epoch: int) -> float:
        return self.lr * self.lr_gamma ** (epoch // self.lr_step_size)


@dataclass(frozen=True)
class CertifyEvery:
    """``certify_every``: every ``every`` epochs, certify the first ``examples`` test inputs at n0 / n / alpha."""

    every: int
    examples: int = 100
    n0: int = 100
    n: int = 1000
    alpha: float = 0.001
    batch_size: int = 1000


def train(model: torch.nn.Module, train_data, test_data, noise: Noise, *, method: str | Method = "gaussian",
          hparams: dict | None = None, epochs: int = 90, seed: int = 0, out: str | None = None, resume: bool = False,
          batch_size: int = 256, schedule: Schedule | None = None, augmentation: str | None = None,
          arch: str | None = None, amp: str | None = None, channels_last: bool = False, compile: bool = False,
          device: str | torch.device | None = None, test_batch_size: int | None = None,
          certify_every: CertifyEvery | None = None, log: Callable[[str], None] | None = print,
          progress: bool = True, stop_after_steps: int | None = None, distributed: bool = False) -> TrainResult:
    """Train ``model`` (inputs in [0, 1] to logits) on ``train_data`` under ``noise`` with ``method`` (a name
    in ``rsmooth_ext.train.METHODS``) and its ``hparams`` (defaults: the paper's), testing on ``test_data``
    each epoch; see the module docstring for the log, the checkpoints and the reproducibility contract.

    ``train_data`` / ``test_data``: ``rsmooth_ext.data.Examples`` or pairs (inputs, labels); the noise of an
    example is keyed by its dataset index. ``augmentation``: one of TRAIN_AUGMENTATIONS (default: the standard
    one for the input shape, ``default_augmentation``). ``schedule``: the optimiser (default Cohen's).
    ``amp``: 'bf16' or 'fp16' autocast (fp16 with a gradient scaler); ``channels_last``; ``compile``
    (torch.compile of the forward). ``out``: the run directory (log, checkpoint); ``resume``: continue from
    its checkpoint (same configuration). ``arch``: recorded in the checkpoint (Cohen's loaders build the
    network from it). ``stop_after_steps``: stop after that many optimiser steps of this call (what the
    resume test interrupts; the partial epoch is not saved).

    ``distributed=True`` (inside an initialised torch.distributed process group, e.g. under torchrun; every
    rank calls ``train`` with the same arguments, ``device`` its own): data-parallel training, see the module
    docstring; only rank 0 logs. Without a process group of more than one rank it is a no-op.

    Every argument, the data, the model's output on one example and the checkpoint to resume are checked
    before the first step; a problem raises TrainError / ValueError / TypeError naming it (under
    ``distributed``, on every rank: the lowest failing rank's error)."""
    if not isinstance(distributed, bool):
        raise TypeError(f"distributed must be a bool, got {distributed!r}")
    distributed = distributed and dist.is_active()
    error = None
    try:
        plan = _plan(model, train_data, test_data, noise, method, hparams, epochs, seed, out, resume, batch_size,
                     schedule, augmentation, arch, amp, channels_last, compile, device, test_batch_size,
                     certify_every, stop_after_steps, distributed)
    except (TrainError, ValueError, TypeError) as e:
        if not distributed:
            raise
        error = e
    if not distributed:
        return _run(plan, log or _silent, progress)
    agree_on_error(error, (TrainError, ValueError, TypeError))
    plan.forward = torch.nn.parallel.DistributedDataParallel(
        plan.evaluate, device_ids=None if plan.device.type != "cuda" else [plan.device])
    try:
        return _run(plan, (log or _silent) if plan.writes else _silent, progress and plan.writes)
    finally:
        # DDP's reducer holds the process group: free it now, not whenever the garbage collector gets to it (after
        # the group is destroyed, gloo then aborts the process)
        plan.forward = plan.evaluate
        gc.collect()


def _silent(line: str) -> None:
    """The log of a rank other than 0."""


@dataclass
class _Plan:
    model: torch.nn.Module
    evaluate: torch.nn.Module  # the model, compiled if asked: the test pass and, on one rank, the training steps
    forward: torch.nn.Module  # what the training steps call: evaluate, wrapped in DDP under distributed
    train: Examples
    test: Examples
    noise: Noise
    method: Method
    hparams: dict
    epochs: int
    seed: int
    out: str | None
    batch_size: int
    test_batch_size: int
    schedule: Schedule
    augmentation: str
    arch: str | None
    amp: str | None
    channels_last: bool
    device: torch.device
    certify_every: CertifyEvery | None
    stop_after_steps: int | None
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler | None
    start_epoch: int
    config: dict
    distributed: bool
    writes: bool  # this rank writes the log and checkpoints, logs and shows progress (rank 0)


def _plan(model, train_data, test_data, noise, method, hparams, epochs, seed, out, resume, batch_size, schedule,
          augmentation, arch, amp, channels_last, compile, device, test_batch_size, certify_every,
          stop_after_steps, distributed) -> _Plan:
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(noise, Noise):
        raise TypeError(f"noise must be an rsmooth_ext noise spec, got {noise!r}")
    method = method if isinstance(method, Method) else get_method(method)
    train_set, test_set = as_examples(train_data, "train_data"), as_examples(test_data, "test_data")
    if len(train_set) == 0 or len(test_set) == 0:
        raise ValueError(f"train_data and test_data must hold examples, got {len(train_set)} and {len(test_set)}")
    if train_set.inputs.shape[1:] != test_set.inputs.shape[1:]:
        raise ValueError(f"train and test inputs differ in shape: {tuple(train_set.inputs.shape[1:])} vs "
                         f"{tuple(test_set.inputs.shape[1:])}")
    noise.check_input_dim(math.prod(train_set.inputs.shape[1:]))
    hparams = method.resolve(hparams, noise)
    epochs = check_int("epochs", epochs, 1)
    seed = check_int("seed", seed, 0)
    batch_size = check_int("batch_size", batch_size, 1)
    test_batch_size = check_int("test_batch_size", test_batch_size or batch_size, 1)
    schedule = (schedule or Schedule()).check()
    augmentation = augmentation or default_augmentation(tuple(train_set.inputs.shape[1:]))
    if augmentation not in TRAIN_AUGMENTATIONS:
        raise ValueError(f"augmentation must be one of {', '.join(TRAIN_AUGMENTATIONS)}, got {augmentation!r}")
    if augmentation != "none" and train_set.inputs.dim() != 4:
        raise ValueError(f"augmentation {augmentation} needs image inputs (N, C, H, W), got shape "
                         f"{tuple(train_set.inputs.shape)}")
    if amp is not None and amp not in AMP_DTYPES:
        raise ValueError(f"amp must be None, 'bf16' or 'fp16', got {amp!r}")
    if not isinstance(channels_last, bool) or (channels_last and train_set.inputs.dim() != 4):
        raise ValueError(f"channels_last needs image inputs (N, C, H, W), got shape {tuple(train_set.inputs.shape)}")
    if stop_after_steps is not None:
        check_int("stop_after_steps", stop_after_steps, 1)
    if certify_every is not None:
        if not isinstance(certify_every, CertifyEvery):
            raise TypeError(f"certify_every must be a CertifyEvery, got {certify_every!r}")
        check_int("certify_every.every", certify_every.every, 1)
        check_int("certify_every.examples", certify_every.examples, 1)
    device = torch.device(device) if device is not None else torch.device("cpu")
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    num_classes = _check_model_on_data(model, train_set, test_set, device)
    config = {"method": method.name, "hparams": hparams, "noise": repr(noise), "seed": seed, "epochs": epochs,
              "batch_size": batch_size, "schedule": dataclasses.asdict(schedule), "augmentation": augmentation,
              "amp": amp, "arch": arch, "num_classes": num_classes, "train_examples": len(train_set)}
    optimizer = torch.optim.SGD(model.parameters(), lr=schedule.lr, momentum=schedule.momentum,
                                weight_decay=schedule.weight_decay)
    scaler = torch.amp.GradScaler(device.type) if amp == "fp16" else None
    start_epoch = 0
    writes = dist.rank_and_world()[0] == 0 or not distributed
    if out is not None:
        if not isinstance(out, (str, os.PathLike)):
            raise TypeError(f"out must be a directory path, got {type(out).__name__}")
        out = os.fspath(out)
        if os.path.exists(out) and not os.path.isdir(out):
            raise TrainError(f"out {out} exists and is not a directory")
        checkpoint = os.path.join(out, CHECKPOINT_NAME)
        if resume:
            start_epoch = _restore(checkpoint, model, optimizer, scaler, config)
        elif os.path.exists(checkpoint):
            raise TrainError(f"{checkpoint} exists: pass resume=True (--resume) to continue that run, or choose "
                             "another out directory")
        if writes:
            os.makedirs(out, exist_ok=True)
    elif resume:
        raise TrainError("resume=True needs out, the directory of the run to continue")
    evaluate = torch.compile(model) if compile else model
    return _Plan(model, evaluate, evaluate, train_set, test_set, noise, method, hparams, epochs, seed, out,
                 batch_size, test_batch_size, schedule, augmentation, arch, amp, channels_last, device, certify_every,
                 stop_after_steps, optimizer, scaler, start_epoch, config, distributed, writes)


def _check_model_on_data(model, train_set: Examples, test_set: Examples, device) -> int:
    try:
        with torch.no_grad():
            was_training = model.training
            logits = model.eval()(train_set.inputs[:1].to(device))
            model.train(was_training)
    except Exception as e:  # noqa: BLE001 - any failure is the model / data mismatch
        raise TrainError(f"the model cannot take inputs of shape {tuple(train_set.inputs.shape[1:])}: "
                         f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or logits.shape[0] != 1:
        raise TrainError(f"the model must return logits (batch, num_classes), got {getattr(logits, 'shape', logits)}")
    k = logits.shape[1]
    for name, labels in (("train", train_set.labels), ("test", test_set.labels)):
        if int(labels.min()) < 0 or int(labels.max()) >= k:
            raise TrainError(f"{name} labels must lie in [0, {k}) for a model with {k} outputs; found "
                             f"{int(labels.min())}..{int(labels.max())}")
    return k


def _restore(checkpoint: str, model, optimizer, scaler, config: dict) -> int:
    if not os.path.isfile(checkpoint):
        raise TrainError(f"cannot resume: {checkpoint} does not exist (the run saves it after each epoch)")
    try:
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001
        raise TrainError(f"cannot resume: cannot read {checkpoint}: {type(e).__name__}") from None
    if not isinstance(saved, dict) or not {"epoch", "state_dict", "optimizer"} <= set(saved):
        raise TrainError(f"cannot resume: {checkpoint} is not a checkpoint of rsmooth train")
    if saved.get("arch") != config["arch"]:
        raise TrainError(f"cannot resume: {checkpoint} holds arch {saved.get('arch')!r}, this run has arch "
                         f"{config['arch']!r}")
    previous = saved.get("rsmooth", {}).get("config")
    if previous is not None:
        changed = sorted(k for k in config if k != "epochs" and previous.get(k) != config[k])
        if changed:
            shown = "; ".join(f"{k}: {previous.get(k)!r} then, {config[k]!r} now" for k in changed)
            raise TrainError(f"cannot resume {checkpoint}: the configuration changed ({shown})")
    try:
        model.load_state_dict(saved["state_dict"])
    except RuntimeError as e:
        raise TrainError(f"cannot resume: {checkpoint} does not fit the model: {str(e).splitlines()[0]}") from None
    optimizer.load_state_dict(saved["optimizer"])
    if scaler is not None and "scaler" in saved.get("rsmooth", {}):
        scaler.load_state_dict(saved["rsmooth"]["scaler"])
    epoch = saved["epoch"]
    if epoch > config["epochs"]:
        raise TrainError(f"cannot resume: {checkpoint} is at epoch {epoch}, beyond epochs={config['epochs']}")
    return int(epoch)


def _autocast(plan: _Plan):
    if plan.amp is None:
        return torch.autocast(plan.device.type, enabled=False)
    return torch.autocast(plan.device.type, dtype=AMP_DTYPES[plan.amp])


def _to_device(plan: _Plan, x: torch.Tensor) -> torch.Tensor:
    x = x.to(plan.device, non_blocking=True)
    return x.contiguous(memory_format=torch.channels_last) if plan.channels_last else x


def _run(plan: _Plan, log, progress: bool) -> TrainResult:
    result = TrainResult(plan.model)
    log_path = None if plan.out is None or not plan.writes else os.path.join(plan.out, "log")
    if plan.out is not None and plan.start_epoch > 0:
        result.checkpoint = os.path.join(plan.out, CHECKPOINT_NAME)
        if plan.start_epoch == plan.epochs:
            log(f"the run in {plan.out} finished all {plan.epochs} epochs already")
    if log_path is not None:
        _start_log(log_path, plan.start_epoch)
    indices = torch.tensor(plan.train.indices, dtype=torch.int64)
    steps = 0
    for epoch in range(plan.start_epoch, plan.epochs):
        lr = plan.schedule.lr_at(epoch)
        for group in plan.optimizer.param_groups:
            group["lr"] = lr
        start = time.perf_counter()
        torch.manual_seed(epoch_seed(plan.seed, epoch, "model"))
        order = torch.randperm(len(plan.train), generator=torch.Generator().manual_seed(
            epoch_seed(plan.seed, epoch, "order")))
        augment_rng = torch.Generator().manual_seed(epoch_seed(plan.seed, epoch, "augment"))
        plan.model.train()
        total_loss, total_seen, correct, counted = 0.0, 0, 0, 0
        batches = order.split(plan.batch_size)
        bar = _progress(batches, f"epoch {epoch}", progress)
        for batch in bar:
            share = share_of(len(batch), plan.distributed)  # the whole batch on one rank
            x = augment_batch(plan.train.inputs[batch], plan.augmentation, augment_rng)[share.rows]
            batch = batch[share.rows]
            x, y = _to_device(plan, x), plan.train.labels[batch].to(plan.device)
            copies = NoisyCopies(plan.noise, plan.seed, epoch, indices[batch], channels_last=plan.channels_last)
            with _autocast(plan):
                output = plan.method.loss(plan.forward, x, y, copies, plan.hparams, epoch=epoch, epochs=plan.epochs)
            loss, logits = output if isinstance(output, tuple) else (output, None)
            if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
                raise TypeError(f"method {plan.method.name}'s loss must return a 0-d tensor, got "
                                f"{getattr(loss, 'shape', type(loss).__name__)}")
            plan.optimizer.zero_grad(set_to_none=True)
            weighted = loss if share.weight == 1.0 else loss * share.weight
            if plan.scaler is not None:
                plan.scaler.scale(weighted).backward()
                plan.scaler.step(plan.optimizer)
                plan.scaler.update()
            else:
                weighted.backward()
                plan.optimizer.step()
            value = float(loss.detach())
            if not math.isfinite(value):
                raise FloatingPointError(f"the training loss became {value} at epoch {epoch} (lower the learning "
                                         "rate or the method's weights)")
            total_loss += value * share.count
            total_seen += share.count
            if logits is not None and share.count:
                correct += int((logits.detach().argmax(-1) == y.view(-1, 1)).sum())
                counted += logits.shape[0] * logits.shape[1]
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{total_loss / max(total_seen, 1):.3f}")
            steps += 1
            if plan.stop_after_steps is not None and steps >= plan.stop_after_steps:
                return result
        total_loss, total_seen, correct, counted = reduced_sums(plan.distributed, total_loss, total_seen, correct,
                                                                counted)
        test_loss, test_acc = _test(plan)
        row = {"epoch": epoch, "time": time.perf_counter() - start, "lr": lr, "train loss": total_loss / total_seen,
               "train acc": 100.0 * correct / counted if counted else float("nan"), "testloss": test_loss,
               "test acc": test_acc}
        result.history.append(row)
        if plan.certify_every is not None and (epoch + 1) % plan.certify_every.every == 0:
            result.certified.append(_certify(plan, epoch, log))
        if plan.out is not None:
            result.checkpoint = os.path.join(plan.out, CHECKPOINT_NAME)
        if plan.out is not None and plan.writes:
            _save_checkpoint(plan, epoch + 1)
            with open(log_path, "a") as f:
                f.write(_log_line(row) + "\n")
        log(_log_line(row))
    plan.model.eval()
    return result


def _progress(batches, desc: str, enabled: bool):
    if not enabled or not sys.stderr.isatty():
        return batches
    from tqdm import tqdm

    return tqdm(batches, desc=desc, unit="batch", leave=False)


def _log_line(row: dict) -> str:
    return (f"{row['epoch']}\t{row['time']:.3f}\t{row['lr']:.3}\t{row['train loss']:.3}\t{row['train acc']:.3}\t"
            f"{row['testloss']:.3}\t{row['test acc']:.3}")


def _start_log(path: str, start_epoch: int) -> None:
    """A new log with Cohen's header, or on resume the rows of the epochs the checkpoint holds."""
    kept = []
    if start_epoch > 0 and os.path.isfile(path):
        with open(path) as f:
            lines = f.read().splitlines()[1:]
        first = [line.split("\t", 1)[0] for line in lines]
        kept = [line for line, e in zip(lines, first) if e.isdigit() and int(e) < start_epoch]
    with open(path, "w") as f:
        f.write("\n".join([LOG_HEADER, *kept]) + "\n")


def _test(plan: _Plan) -> tuple[float, float]:
    """Cross-entropy and accuracy (percent) on one noisy copy of each test input (Cohen's test under noise;
    the test noise is the same every epoch, so the epochs' figures compare). Under ``distributed`` each rank
    tests its contiguous share of the examples and the sums are reduced."""
    plan.model.eval()
    total, correct = 0.0, 0
    ids = torch.tensor(plan.test.indices, dtype=torch.int64)
    mine = range_share(len(plan.test), plan.distributed)
    with torch.no_grad(), _autocast(plan):
        for start in range(mine.start, mine.stop, plan.test_batch_size):
            part = slice(start, min(start + plan.test_batch_size, mine.stop))
            x, y = _to_device(plan, plan.test.inputs[part]), plan.test.labels[part].to(plan.device)
            copies = NoisyCopies(plan.noise, plan.seed, 0, ids[part], channels_last=plan.channels_last, stream="test")
            logits = plan.evaluate(copies(x, 1)).float()
            total += float(torch.nn.functional.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
    plan.model.train()
    total, correct = reduced_sums(plan.distributed, total, correct)
    return total / len(plan.test), 100.0 * correct / len(plan.test)


def _certify(plan: _Plan, epoch: int, log) -> dict:
    from ..smooth import certify

    every = plan.certify_every
    count = min(every.examples, len(plan.test))
    x, y = plan.test.inputs[:count].to(plan.device), plan.test.labels[:count]
    ids = torch.tensor(plan.test.indices[:count], dtype=torch.int64, device=plan.device)
    plan.model.eval()
    result = certify(plan.model, x, plan.noise, every.n0, every.n, every.alpha, batch_size=every.batch_size,
                     seed=plan.seed, input_ids=ids, channels_last=plan.channels_last, distributed=plan.distributed)
    plan.model.train()
    right = result.prediction.cpu() == y
    row = {"epoch": epoch, "examples": count, "n0": every.n0, "n": every.n, "alpha": every.alpha,
           "certified accuracy": float(right.float().mean()),
           "ACR": float(torch.where(right, result.radius.cpu(), torch.zeros_like(result.radius.cpu())).mean())}
    if plan.out is not None and plan.writes:
        path = os.path.join(plan.out, "certify.tsv")
        new = not os.path.isfile(path)
        with open(path, "a") as f:
            if new:
                f.write(CERTIFY_HEADER + "\n")
            f.write(f"{epoch}\t{count}\t{every.n0}\t{every.n}\t{every.alpha}\t{row['certified accuracy']:.4f}\t"
                    f"{row['ACR']:.4f}\n")
    log(f"epoch {epoch}: certified {count} test inputs (n0={every.n0}, n={every.n}): certified accuracy "
        f"{row['certified accuracy']:.3f}, ACR {row['ACR']:.3f}")
    return row


def _save_checkpoint(plan: _Plan, epoch: int) -> None:
    from ..models.checkpoints import save_cohen_checkpoint

    extra = {"config": plan.config}
    if plan.scaler is not None:
        extra["scaler"] = plan.scaler.state_dict()
    path = os.path.join(plan.out, CHECKPOINT_NAME)
    save_cohen_checkpoint(path, plan.model, plan.arch, epoch, plan.optimizer, extra=extra)
