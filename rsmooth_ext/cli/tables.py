"""``rsmooth tables``: build or inspect the certificate tables."""

from __future__ import annotations

import argparse

from ..certificates import tables


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("tables", help="build or inspect the certificate tables (shipped, cached, computed)")
    p.add_argument("args", nargs=argparse.REMAINDER, help="build [--out DIR] | show FAMILY ADVERSARY D [--k K]")
    return p


def run(args, log) -> int:
    return tables.main(args.args)
