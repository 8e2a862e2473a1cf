"""The noise options of the commands that sample (--noise, --sigma / --lambd, --match and the families' shape
parameters) and the spec they build."""

from __future__ import annotations

import argparse

from ..noises import NOISES, Noise
from .errors import CliError

RADIAL = ("expinf", "exp1", "exp2", "uniformball", "powinf", "pow2")


def add_noise_options(parser: argparse.ArgumentParser, defaults: dict) -> None:
    """Add the "noise" option group; ``defaults`` may override the command's default noise and sigma."""
    g = parser.add_argument_group("noise")
    g.add_argument("--noise", default=defaults.get("noise", "gaussian"), choices=sorted(NOISES))
    level = g.add_mutually_exclusive_group()
    level.add_argument("--sigma", type=float, default=None,
                       help=f"noise level (default {defaults.get('sigma', 0.25)})")
    level.add_argument("--lambd", type=float, default=None, help="the family's scale parameter instead of --sigma")
    g.add_argument("--match", default="l2", choices=["l2", "l1"], help="sigma convention (default l2)")
    g.add_argument("--k", type=float, default=None, help="shape of lomax (default 3) and expinf/exp1/exp2 (default 1)")
    g.add_argument("--keep", type=float, default=None, help="masking: keep probability")
    g.add_argument("--j", type=float, default=None, help="expinf/exp2: exponent j of ||x||^-j (default 0)")
    g.add_argument("--a", type=float, default=None, help="powinf/pow2: tail exponent a (required)")
    g.add_argument("--p", type=float, default=None, help="expp: exponent p of exp(-|x/lambda|^p) (required)")


def make_noise(args, dim: int, default_sigma: float = 0.25) -> Noise:
    name = args.noise
    try:
        if name == "masking":
            if args.keep is None:
                raise CliError("--noise masking needs --keep (probability of keeping a coordinate)")
            return NOISES[name](keep=args.keep)
        kwargs = {}
        if args.lambd is None and args.sigma is None:
            args.sigma = default_sigma  # recorded in the results' configuration
        if args.lambd is not None:
            kwargs["lambd"] = args.lambd
        else:
            kwargs.update(sigma=args.sigma, match=args.match)
        if name in ("expinf", "exp1", "exp2", "pow2"):
            kwargs["k"] = 1.0 if args.k is None else args.k
        if name in ("expinf", "exp2") and args.j is not None:
            kwargs["j"] = args.j
        for option, families in (("a", ("powinf", "pow2")), ("p", ("expp",))):
            if name in families:
                if getattr(args, option) is None:
                    raise CliError(f"--noise {name} needs --{option}")
                kwargs[option] = getattr(args, option)
        if name == "lomax":
            kwargs["k"] = 3.0 if args.k is None else args.k
        if name in RADIAL:
            kwargs["dim"] = dim
        return NOISES[name](**kwargs)
    except (ValueError, TypeError) as e:
        raise CliError(f"bad noise parameters: {e}") from None
