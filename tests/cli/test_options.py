"""The shared options: Cohen's spellings, the defaults of --n, and every option's help showing its default."""

import argparse

import pytest

from rsmooth_ext.cli import build_parser
from rsmooth_ext.cli.options import COHEN_N

# --noise comes from noise_options.py, whose help lists the families; its choices are in the usage line meanwhile
HELP_FROM_NOISE_OPTIONS: set[str] = set()


def subparsers(parser):
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    seen = {}
    for name, p in sub.choices.items():
        seen.setdefault(id(p), (name, p))  # an alias maps to its command's parser: walk each once
    return list(seen.values())


def test_every_command_is_registered():
    names = [name for name, _ in subparsers(build_parser())]
    assert names == ["demo", "certify", "predict", "train", "attack", "analyze", "tables", "info"]


def test_every_option_has_help_that_shows_its_default():
    missing, no_default = [], []
    for name, p in subparsers(build_parser()):
        p.format_help()  # every %(default)s expands
        formatter = p._get_formatter()
        for action in p._actions:
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
                continue
            flag = action.option_strings[0] if action.option_strings else action.dest
            if not action.help:
                if flag not in HELP_FROM_NOISE_OPTIONS:
                    missing.append(f"{name} {flag}")
                continue
            shown = formatter._get_help_string(action)
            if action.option_strings and not action.required and "default" not in shown:
                no_default.append(f"{name} {flag}")
    assert not missing, f"options without help: {missing}"
    assert not no_default, f"options whose help does not show the default: {no_default}"


def test_help_renders_flags_as_off_and_values_as_given(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["certify", "--help"])
    text = capsys.readouterr().out
    assert "(default: off)" in text and "(default: 100000)" in text and "(default: 0.001)" in text
    assert "(default: False)" not in text and "(default: None)" not in text


CERTIFY = ["certify", "--model", "m:f", "--data", "d.pt", "--out", "o.tsv"]


def test_cohen_spellings_are_aliases():
    parse = build_parser().parse_args
    ours = parse([*CERTIFY, "--n0", "50", "--n", "2000", "--batch-size", "400"])
    cohen = parse([*CERTIFY, "--N0", "50", "--N", "2000", "--batch", "400"])
    assert vars(ours) == vars(cohen) and (ours.n0, ours.n, ours.batch_size) == (50, 2000, 400)
    assert parse([*CERTIFY, "--num-samples", "2000"]).n == 2000  # the spelling torchrun leaves alone


def test_n_defaults_to_cohen_for_certify_and_predict_and_stays_small_for_the_demo():
    parse = build_parser().parse_args
    assert COHEN_N == 100_000
    assert parse(CERTIFY).n == COHEN_N
    assert parse(["predict", *CERTIFY[1:]]).n == COHEN_N
    assert parse(["demo"]).n == 2000


def test_certify_help_states_the_default_n_first(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")  # argparse wraps to the terminal
    with pytest.raises(SystemExit):
        build_parser().parse_args(["certify", "--help"])
    first_line = capsys.readouterr().out.split("\n\n")[1].splitlines()[0]
    assert first_line.startswith("Certify a model on a dataset (--n defaults to Cohen's 100,000 samples).")
