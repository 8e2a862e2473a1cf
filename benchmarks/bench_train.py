"""Benchmark (not a test): one training step of each method (forward, backward, SGD step) with the fused noisy
copies (``NoisyCopies``: one ``perturb`` pass, differentiable) against the same step written as the anchors
write it (``x.repeat_interleave(m, 0)`` + ``torch.randn_like(...) * sigma`` + add), same model, same batch,
same run, at m = 1 and m = 4 (consistency needs m >= 2: 2 and 4). Reports the step-time ratio
(anchor / fused: > 1 means the fused step is faster) and the noise's share of each step (the copies alone,
timed the same way, over the step).

The two ways are timed in alternation (round-robin, median of the rounds) so that a busy machine slows both.

    python benchmarks/bench_train.py                                   # CIFAR ResNet-20, batch 32, CPU
    python benchmarks/bench_train.py --json benchmarks/results/train_cpu.json
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from _common import machine_info, print_table, write_json

import rsmooth_ext as rs
from rsmooth_ext.models.checkpoints import cohen_model
from rsmooth_ext.train import METHODS, NoisyCopies

PAPER_METHODS = ("gaussian", "smoothed-nll", "stability", "consistency", "macer")


class AnchorCopies:
    """The anchors' copies: repeat each input m times, add randn_like * sigma (Gaussian noise only)."""

    def __init__(self, noise: rs.Gaussian):
        self.noise, self.sigma = noise, noise.sigma

    def __call__(self, x, m, *, offset=0):
        batch = x.repeat_interleave(m, dim=0)
        return batch + torch.randn_like(batch) * self.sigma


def timed(fn, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="cifar_resnet20")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--sigma", type=float, default=0.25)
    parser.add_argument("--rounds", type=int, default=5, help="alternating timing rounds per configuration")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--methods", default=",".join(PAPER_METHODS))
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = cohen_model(args.arch).to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=1e-4)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, 3, 32, 32, generator=g).to(device)
    y = torch.randint(0, 10, (args.batch,), generator=g).to(device)
    noise = rs.Gaussian(sigma=args.sigma)
    fused = NoisyCopies(noise, 0, 0, torch.arange(args.batch, device=device))
    anchor = AnchorCopies(noise)
    rows = []
    for name in args.methods.split(","):
        method = METHODS[name]
        for m in ((2, 4) if name == "consistency" else (1, 4)):
            hparams = method.resolve({"m": m})

            def step(copies, method=method, hparams=hparams):
                output = method.loss(model, x, y, copies, hparams, epoch=0, epochs=1)
                loss = output[0] if isinstance(output, tuple) else output
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()

            def noise_only(copies, m=m):
                with torch.no_grad():
                    copies(x, m)

            for copies in (fused, anchor):  # warm-up
                step(copies)
            times = {k: [] for k in ("fused", "anchor", "fused_noise", "anchor_noise")}
            for _ in range(args.rounds):
                times["fused"].append(timed(lambda: step(fused), device))
                times["anchor"].append(timed(lambda: step(anchor), device))
                times["fused_noise"].append(timed(lambda: noise_only(fused), device))
                times["anchor_noise"].append(timed(lambda: noise_only(anchor), device))
            med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
            rows.append({"method": name, "m": m, "fused_step_ms": med["fused"], "anchor_step_ms": med["anchor"],
                         "step_ratio": med["anchor"] / med["fused"],
                         "fused_noise_share_pct": 100 * med["fused_noise"] / med["fused"],
                         "anchor_noise_share_pct": 100 * med["anchor_noise"] / med["anchor"]})
            print_table(rows[-1:], list(rows[-1]))
    print()
    print_table(rows, list(rows[0]))
    info = machine_info(args.device)
    info.update(arch=args.arch, batch=args.batch, sigma=args.sigma, rounds=args.rounds,
                cpu_capability=torch.backends.cpu.get_cpu_capability())
    write_json(args.json, rows, info)


if __name__ == "__main__":
    main()
