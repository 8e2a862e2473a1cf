"""Benchmark (not a test): one attack on the soft smoothed classifier, fused vs the anchors' way.

fused = ``rsmooth_ext.attacks.attack`` (PGD in l2): every step draws the m noisy copies with the fused ``perturb``
(differentiable with respect to x: its backward sums the copies' gradients) and differentiates the soft smoothed
cross-entropy. anchors = the same attack as Salman et al.'s smoothing-adversarial code writes it: the inputs
repeated m times (``inputs.repeat``), the noise drawn once with ``randn_like`` and added, ``delta.repeat`` added at
every step, autograd through the repeated copies. Same model (CIFAR ResNet-20 from rsmooth_ext.models, eval mode),
same shapes (B CIFAR inputs x m copies), same run; each time is the fastest of --repeats full attacks divided by
the steps, and the ratio is anchors / fused.

    python benchmarks/bench_attack.py --json benchmarks/results/attack_cpu.json
    python benchmarks/bench_attack.py --device cuda --inputs 64
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from _common import machine_info, print_table, write_json

import rsmooth_ext as rs
from rsmooth_ext.attacks import attack
from rsmooth_ext.models import CifarResNet


def anchors_attack(model, x, y, sigma, eps, steps, m, channels_last):
    """Salman et al.'s PGD_L2._attack_mutlinoise: repeat, randn_like, add; SGD-style steps on delta."""
    b = x.shape[0]
    inputs = x.repeat((1, m, 1, 1)).view(b * m, *x.shape[1:])
    noise = torch.randn_like(inputs) * sigma
    delta = torch.zeros_like(x, requires_grad=True)
    for _ in range(steps):
        adv = inputs + delta.repeat(1, m, 1, 1).view_as(inputs) + noise
        if channels_last:
            adv = adv.contiguous(memory_format=torch.channels_last)
        logits = model(adv)
        average = F.softmax(logits, dim=1).reshape(b, m, -1).mean(1)
        loss = F.nll_loss(torch.log(average.clamp(min=1e-20)), y)
        (grad,) = torch.autograd.grad(loss, delta)
        grad = grad / grad.flatten(1).norm(dim=1).clamp(min=1e-12).view(-1, 1, 1, 1)
        with torch.no_grad():
            delta += 2 * eps / steps * grad
            delta.copy_((x + delta).clamp(0, 1) - x)
            delta.copy_(delta.renorm(p=2, dim=0, maxnorm=eps))
    return (x + delta).detach()


def best_seconds(run, repeats: int, device: str) -> float:
    run()  # warm-up (allocator, oneDNN primitives)
    times = []
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        run()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--inputs", type=int, default=4, help="CIFAR inputs attacked at once (B)")
    parser.add_argument("--m", type=int, default=8, help="noisy copies per input")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--sigma", type=float, default=0.25)
    parser.add_argument("--eps", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=3, help="the fastest of this many timed attacks")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    device = args.device
    torch.manual_seed(0)
    model = CifarResNet(20).to(device).eval()
    g = torch.Generator().manual_seed(1)
    x = torch.rand(args.inputs, 3, 32, 32, generator=g).to(device)
    y = torch.randint(0, 10, (args.inputs,), generator=g).to(device)
    noise = rs.Gaussian(sigma=args.sigma)
    rows = []
    for layout in ("contiguous", "channels_last"):
        cl = layout == "channels_last"
        net = model.to(memory_format=torch.channels_last if cl else torch.contiguous_format)

        def fused(net=net, cl=cl):
            attack(net, x, y, noise, args.eps, args.steps, args.m, 0, channels_last=cl)

        def anchors(net=net, cl=cl):
            anchors_attack(net, x, y, args.sigma, args.eps, args.steps, args.m, cl)

        t_fused = best_seconds(fused, args.repeats, device) / args.steps * 1e3
        t_anchors = best_seconds(anchors, args.repeats, device) / args.steps * 1e3
        rows.append({"layout": layout, "inputs": args.inputs, "m": args.m, "fused_ms_per_step": round(t_fused, 3),
                     "anchors_ms_per_step": round(t_anchors, 3), "ratio": round(t_anchors / t_fused, 3)})
    print_table(rows, ["layout", "inputs", "m", "fused_ms_per_step", "anchors_ms_per_step", "ratio"])
    info = machine_info(device)
    if device == "cpu":
        info.update(cpu_capability=torch.backends.cpu.get_cpu_capability(),
                    mkldnn_bf16=bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()))
    write_json(args.json, rows, info | {"model": "CifarResNet(20)", "steps": args.steps, "sigma": args.sigma,
                                        "eps": args.eps})


if __name__ == "__main__":
    main()
