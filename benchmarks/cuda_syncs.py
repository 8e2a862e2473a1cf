"""Diagnostic (not a test): where certify, a training step and an attack read back to the host on CUDA.

A host read (``.item()``, ``bool(tensor)``, a device-to-host copy) waits for every queued kernel, so the GPU idles
while Python prepares the next launch. This script runs each workload once to warm up, then once under
``torch.cuda.set_sync_debug_mode("warn")`` and prints, per workload, the number of synchronising calls and the
source lines (of rsmooth_ext, or of this script) that made them, most frequent first.

    python benchmarks/cuda_syncs.py --json syncs.json
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import warnings

import torch

import rsmooth_ext as rs
from rsmooth_ext.attacks import attack
from rsmooth_ext.models.checkpoints import cohen_model
from rsmooth_ext.train import NoisyCopies, get_method


def syncs(fn) -> tuple[int, list[tuple[str, int]]]:
    """(number of synchronising calls, [(file:line, count)]) of one call of ``fn``."""
    fn()
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fn()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    torch.cuda.synchronize()
    lines = collections.Counter(f"{os.path.relpath(w.filename)}:{w.lineno}" for w in caught
                                if "synchroniz" in str(w.message))
    return sum(lines.values()), lines.most_common(8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=int, default=4)
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    device = torch.device("cuda")
    model = cohen_model("cifar_resnet20").to(device).eval()
    noise = rs.Gaussian(sigma=0.25)
    x = torch.rand(args.inputs, 3, 32, 32, device=device)
    y = torch.zeros(args.inputs, dtype=torch.int64, device=device)
    batches = args.inputs * (100 + args.n) // 1000
    workloads = {
        f"certify ({batches} batches of 1000)": lambda: rs.certify(model, x, noise, 100, args.n, 0.001, seed=0),
        "attack (pgd, 4 steps, m = 8)": lambda: attack(model, x, y, noise, 0.5, 4, 8, 0),
    }
    for name in ("gaussian", "consistency"):
        method = get_method(name)
        hparams = method.resolve({}, noise)
        train_model = cohen_model("cifar_resnet20").to(device).train()

        def step(method=method, hparams=hparams, train_model=train_model):
            copies = NoisyCopies(noise, seed=0, epoch=0, example_ids=torch.arange(args.inputs))
            out = method.loss(train_model, x, y, copies, hparams, epoch=0, epochs=1)
            (out[0] if isinstance(out, tuple) else out).backward()

        workloads[f"train step ({name})"] = step
    report = {}
    for name, fn in workloads.items():
        count, where = syncs(fn)
        report[name] = {"syncs": count, "where": where}
        print(f"{name}: {count} synchronising calls")
        for line, k in where:
            print(f"    {k:6d}  {line}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
