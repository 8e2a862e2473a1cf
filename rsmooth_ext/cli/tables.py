"""``rsmooth tables``: list, show and build the certificate tables (rsmooth_ext.certificates.tables)."""

from __future__ import annotations

import argparse
import glob
import json
import os

from ..cache import cache_dir
from ..certificates import tables
from ..noises import NOISES
from .errors import CliError

SHOW_PROBABILITIES = (0.6, 0.9, 0.99, 0.999, 0.99993, 1 - 1e-6)
HEADER_FIELDS = ("family", "adversary", "d", "k", "method", "points", "error_bound")


def add_parser(sub) -> argparse.ArgumentParser:
    """Add the ``tables`` command (with its ``list``, ``show`` and ``build`` subcommands) to ``sub``."""
    formatter = argparse.ArgumentDefaultsHelpFormatter
    pairs = ", ".join(f"{f}/{a}" for f, a in tables.TABLE_PAIRS)
    p = sub.add_parser("tables", help="list, show or build the certificate tables (shipped, cached, computed)",
                       description=f"Radius tables of the certificates without a closed form ({pairs}).",
                       formatter_class=formatter)
    commands = p.add_subparsers(dest="tables_command", required=True, metavar="{list,show,build}",
                                help="list: shipped and cached tables; show: one table; build: compute tables")
    commands.add_parser("list", help="the shipped and cached tables with their key header fields, and the cache "
                                     "directory", formatter_class=formatter)
    show = commands.add_parser("show", help="a table's header and its radius at a few p (computed and cached if "
                                            "missing)", formatter_class=formatter)
    _add_table_arguments(show, required=True)
    build = commands.add_parser("build", help="without arguments: regenerate the shipped tables into --out; with "
                                              "FAMILY ADVERSARY D: compute and cache that table",
                                formatter_class=formatter)
    _add_table_arguments(build, required=False)
    build.add_argument("--out", default=tables.SHIPPED_DIR,
                       help="directory the shipped tables are written to (only without FAMILY ADVERSARY D)")
    return p


def _add_table_arguments(p: argparse.ArgumentParser, *, required: bool) -> None:
    nargs = None if required else "?"
    p.add_argument("family", nargs=nargs, default=None,
                   help="noise family: " + ", ".join(sorted({f for f, _ in tables.TABLE_PAIRS})))
    p.add_argument("adversary", nargs=nargs, default=None, help="adversary norm: l1, l2 or linf")
    p.add_argument("d", nargs=nargs, type=int, default=None, help="elements per input")
    p.add_argument("--k", type=float, default=None, help="the family's shape parameter k (families that take one)")


def run(args, log) -> int:
    """Execute ``rsmooth tables ...``; ``log`` prints a line."""
    if args.tables_command == "list":
        return _list(log)
    if args.tables_command == "show":
        table = tables.get_table(args.family, args.adversary, _check_d(args.d), _k(args))
        log(json.dumps(table.header, indent=2, sort_keys=True))
        for q in SHOW_PROBABILITIES:
            log(f"p = {q:<10g} radius / lambda = {float(table.lookup(q)):.6g}")
        return 0
    given = [x is not None for x in (args.family, args.adversary, args.d)]
    if any(given) and not all(given):
        raise CliError("tables build: give FAMILY ADVERSARY D together, or none of them (the shipped tables)")
    if all(given):
        table = tables.get_table(args.family, args.adversary, _check_d(args.d), _k(args))
        log(f"{tables.file_name(args.family, args.adversary, args.d, _k(args))}: {table.p.size} points, "
            f"error bound {table.header['error_bound']:.2e}, cached under {os.path.join(cache_dir(), 'tables')}")
        return 0
    for family, adversary, d, k in tables.SHIPPED:
        table = tables.compute_table(family, adversary, d, k)
        path = os.path.join(args.out, tables.file_name(family, adversary, d, k))
        tables.save_table(table, path)
        log(f"wrote {path} ({table.p.size} points, error bound {table.header['error_bound']:.2e})")
    return 0


def _check_d(d: int) -> int:
    if d < 1:
        raise CliError(f"tables: D must be an integer >= 1 (elements per input), got {d}")
    return d


def _k(args) -> float | None:
    spec = NOISES.get(args.family)
    if spec is not None and not any(param.name == "k" for param in spec.parameters):
        if args.k is not None:
            raise CliError(f"tables: {args.family} has no shape parameter, got --k {args.k:g}")
        return None
    if args.k is None:
        raise CliError(f"tables: {args.family} needs --k (its shape parameter)")
    return args.k


def _list(log) -> int:
    cached = os.path.join(cache_dir(), "tables")
    for title, directory in (("shipped", tables.SHIPPED_DIR), ("cached", cached)):
        paths = sorted(glob.glob(os.path.join(directory, "*.npz")))
        log(f"{title} ({directory}): {len(paths)} table(s)")
        for path in paths:
            header = tables.read_header(path)
            fields = "unreadable" if header is None else "  ".join(
                f"{name}={header.get(name)}" for name in HEADER_FIELDS if name in header)
            log(f"  {os.path.basename(path)}  {fields}")
    log(f"cache directory: {cache_dir()} (RSMOOTH_CACHE_DIR, else $XDG_CACHE_HOME/rsmooth_ext)")
    return 0
