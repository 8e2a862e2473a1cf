"""Figure of the docs: certified radius vs p_lower for every noise at the same noise level
(sigma = 0.25, l2-matched) and input size d = 3072 (CIFAR), against l1, l2 and l_inf.

    python docs/plot_radii.py [--out docs/radii_d3072.png]
"""

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import rsmooth_ext as rs  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="docs/radii_d3072.png")
    parser.add_argument("--sigma", type=float, default=0.25)
    parser.add_argument("--dim", type=int, default=3072)
    args = parser.parse_args(argv)
    d, s = args.dim, args.sigma
    noises = [rs.Gaussian(sigma=s), rs.Laplace(sigma=s), rs.Uniform(sigma=s), rs.Lomax(k=3, sigma=s),
              rs.UniformBall(dim=d, sigma=s), rs.ExpInf(k=1, dim=d, sigma=s), rs.Exp1(k=1, dim=d, sigma=s),
              rs.Exp2(k=1, dim=d, sigma=s)]
    p = 1 - np.logspace(np.log10(0.5), -6, 400)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), dpi=110)
    for ax, adversary in zip(axes, ("l1", "l2", "linf")):
        for noise in noises:
            ax.plot(1 - p, noise.certify(p, adversary, dim=d), label=type(noise).__name__)
        ax.set_xscale("log")
        ax.invert_xaxis()
        ax.set_yscale("log")
        ax.set_xlabel("1 - p_lower")
        ax.set_ylabel(f"certified {adversary} radius")
        ax.set_title(f"{adversary}, sigma = {s} (l2-matched), d = {d}")
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
