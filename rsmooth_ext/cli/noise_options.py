"""The noise options of the commands that sample and the spec they build: --noise, --sigma / --lambd, --match,
and one option per parameter name the specs declare (rsmooth_ext.noises), with help derived from the
declarations. Nothing here knows a family by name: a new spec in the registry brings its options."""

from __future__ import annotations

import argparse

from ..noises import DEFAULT_FAMILY, NOISES, SOUND_NOISES, Noise, Param, sound
from .errors import CliError


def family_name(text: str) -> str:
    """A family name as typed, in any case (rs4a spells them capitalised), in its canonical lower-case form."""
    return text.lower()


def parameter_options() -> dict[str, list[tuple[type[Noise], Param]]]:
    """Each parameter name a user sets on the command line -> the (spec class, declaration) pairs that take it,
    in registry order. Input-size parameters (``dim``) come from the data and have no option."""
    options: dict[str, list[tuple[type[Noise], Param]]] = {}
    for cls in NOISES.values():
        for p in cls.parameters:
            if not p.from_input:
                options.setdefault(p.name, []).append((cls, p))
    return options


def _option_help(takers: list[tuple[type[Noise], Param]]) -> str:
    """'fam1/fam2: meaning (default v); fam3: meaning (required)', families that agree listed together."""
    groups: dict[tuple[str, str], list[str]] = {}
    for cls, p in takers:
        default = "required" if p.required else f"default {p.default:g}"
        groups.setdefault((p.meaning, default), []).append(cls.family)
    return "; ".join(f"{'/'.join(families)}: {meaning} ({default})" for (meaning, default), families in groups.items())


def add_noise_options(parser: argparse.ArgumentParser, defaults: dict) -> None:
    """Add the "noise" option group; ``defaults`` may override the command's default noise and sigma."""
    g = parser.add_argument_group("noise")
    default_family = defaults.get("noise", DEFAULT_FAMILY)
    g.add_argument("--noise", default=default_family, type=family_name, choices=sorted(NOISES),
                   help=f"noise family, in any case (default {default_family})")
    level = g.add_mutually_exclusive_group()
    level.add_argument("--sigma", type=float, default=None,
                       help=f"noise level, matched as --match says (default {defaults.get('sigma', 0.25)})")
    level.add_argument("--lambd", type=float, default=None,
                       help="the family's scale parameter lambda, instead of --sigma (default: from --sigma)")
    g.add_argument("--match", default="l2", choices=["l2", "l1"],
                   help="sigma convention: sigma^2 = E||eps||_2^2 / d (l2) or sigma = E||eps||_1 / d (l1) "
                        "(default l2)")
    for name, takers in parameter_options().items():
        g.add_argument(f"--{name}", type=float, default=None, help=_option_help(takers))
    s = parser.add_argument_group("sound mode (docs/sound.md)")
    s.add_argument("--sound", action="store_true",
                   help="draw the noise exactly on the inputs' grid {i / G} (gaussian, laplace, uniform): the "
                        "continuous certificate then holds for the computation that runs")
    s.add_argument("--grid", type=int, default=255, help="with --sound: the grid size G (default 255, 8-bit images)")
    s.add_argument("--clip", type=float, default=1.0,
                   help="with --sound: x + delta is clipped to [-clip, 1 + clip], a multiple of 1/G (default 1)")
    s.add_argument("--quantize", action="store_true",
                   help="with --sound: round off-grid inputs to the grid instead of refusing them")


def make_noise(args, dim: int, default_sigma: float = 0.25) -> Noise:
    """The spec that ``args`` (parsed with :func:`add_noise_options`) name, for inputs of ``dim`` elements.
    Sets ``args.sigma`` to ``default_sigma`` when neither --sigma nor --lambd was given (the results record
    it). Raises CliError on a missing or foreign parameter option and on values the spec refuses."""
    family = args.noise
    cls = NOISES[family]
    declared = {p.name for p in cls.parameters}
    foreign = [f"--{name}" for name in parameter_options()
               if name not in declared and getattr(args, name, None) is not None]
    if foreign:
        raise CliError(f"--noise {family} takes no {', '.join(foreign)} (its parameters: "
                       f"{', '.join(f'--{p.name}' for p in cls.parameters if not p.from_input) or 'none'})")
    kwargs = {}
    for p in cls.parameters:
        if p.from_input:
            kwargs[p.name] = dim
        elif getattr(args, p.name) is not None:
            kwargs[p.name] = getattr(args, p.name)
        elif p.required:
            raise CliError(f"--noise {family} needs --{p.name} ({p.meaning})")
    if cls.scaled:
        if args.lambd is None and args.sigma is None:
            args.sigma = default_sigma  # recorded in the results' configuration
        if args.lambd is not None:
            kwargs["lambd"] = args.lambd
        else:
            kwargs.update(sigma=args.sigma, match=args.match)
    elif args.lambd is not None or args.sigma is not None:
        raise CliError(f"--noise {family} has no scale: drop --sigma / --lambd")
    sound_mode = getattr(args, "sound", False)
    if sound_mode and cls not in SOUND_NOISES:
        raise CliError(f"--sound needs --noise gaussian, laplace or uniform, got --noise {family}")
    if not sound_mode and (getattr(args, "quantize", False) or getattr(args, "grid", 255) != 255
                           or getattr(args, "clip", 1.0) != 1.0):
        raise CliError("--grid, --clip and --quantize apply to --sound only")
    try:
        noise = cls(**kwargs)
        return sound(noise, grid=args.grid, clip=args.clip, quantize=args.quantize) if sound_mode else noise
    except (ValueError, TypeError) as e:
        raise CliError(f"bad noise parameters: {e}") from None
