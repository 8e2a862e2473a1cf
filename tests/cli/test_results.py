"""Results files: reading rsmooth's and Cohen's TSV as the same certification results, the reader's errors,
Cohen's durations, and resume / merge of rsmooth files."""

import numpy as np
import pytest

from rsmooth_ext.cli.results import (
    CERTIFY_COLUMNS,
    ResultsError,
    ResultsWriter,
    merge_results,
    parse_seconds,
    part_path,
    read_results,
    read_run,
    summary,
)


def test_cohen_tsv_certified_accuracy_and_acr(cohen_files):
    run = read_run(cohen_files[0])
    np.testing.assert_allclose(run.certified_accuracy([0.25, 0.5, 0.75]), [0.6, 0.4, 0.0])
    assert run.average_certified_radius() == pytest.approx(0.28)
    assert run.abstention_rate() == pytest.approx(0.2)
    np.testing.assert_allclose(run.seconds, [15.4, 15.6, 15.7, 15.8, 15.9])
    other = read_run(cohen_files[1])
    np.testing.assert_allclose(other.certified_accuracy([0.25, 0.5, 0.75]), [0.5, 0.5, 0.5])
    assert other.average_certified_radius() == pytest.approx(0.525)


def test_rsmooth_results_files_read_the_same(tmp_path, cohen_files):
    cohen_sigma_025 = open(cohen_files[0]).read()
    config = {"command": "certify", "noise": "gaussian", "sigma": 0.25, "lambd": None}
    writer = ResultsWriter(str(tmp_path / "r.tsv"), config, CERTIFY_COLUMNS, resume=False)
    for line in cohen_sigma_025.splitlines()[1:]:
        idx, label, predict, radius, correct, _ = line.split("\t")
        writer.write({"index": int(idx), "label": int(label), "prediction": int(predict), "p_lower": 0.9,
                      "radius": float(radius), "correct": int(correct), "seconds": 1.0})
    writer.close()
    ours, cohen = read_run(str(tmp_path / "r.tsv")), read_run(cohen_files[0])
    assert ours.label == "gaussian sigma=0.25"
    np.testing.assert_array_equal(ours.certified_accuracy([0, 0.25, 0.5, 0.75]),
                                  cohen.certified_accuracy([0, 0.25, 0.5, 0.75]))
    assert ours.average_certified_radius() == cohen.average_certified_radius()


def test_parse_seconds():
    assert parse_seconds("15.4") == 15.4
    assert parse_seconds("0:00:15.432100") == pytest.approx(15.4321)
    assert parse_seconds("1:02:03") == 3723
    assert parse_seconds("1 day, 2:03:04.5") == pytest.approx(93784.5)
    with pytest.raises(ValueError, match="time must be seconds or H:MM:SS.ffffff, got '15s'"):
        parse_seconds("15s")


def test_malformed_files(tmp_path, cohen_files):
    cohen_sigma_025 = open(cohen_files[0]).read()
    (tmp_path / "other.tsv").write_text("a\tb\n1\t2\n")
    with pytest.raises(ResultsError, match="neither an rsmooth results file nor Cohen's TSV"):
        read_run(str(tmp_path / "other.tsv"))
    (tmp_path / "short.tsv").write_text(cohen_sigma_025 + "100\t1\t1\n")
    with pytest.raises(ResultsError, match="short.tsv:7: expected 6 columns, got 3"):
        read_run(str(tmp_path / "short.tsv"))
    (tmp_path / "time.tsv").write_text(cohen_sigma_025.replace("0:00:15.400000", "soon"))
    with pytest.raises(ResultsError, match="time.tsv:2: time must be seconds"):
        read_run(str(tmp_path / "time.tsv"))



def test_merge_orders_rows_by_index_and_removes_the_shards(tmp_path):
    out = str(tmp_path / "r.tsv")
    config = {"command": "certify", "noise": "gaussian", "sigma": 0.25}
    row = {"label": 1, "prediction": 1, "p_lower": 0.9, "radius": 0.5, "correct": 1, "seconds": 0.1}
    for rank, indices in enumerate([[4, 0], [3, 1]]):
        writer = ResultsWriter(part_path(out, rank), config, CERTIFY_COLUMNS, resume=False)
        for i in indices:
            writer.write({"index": i, **row, "radius": i / 10})
        writer.close()
    merge_results(out, config, CERTIFY_COLUMNS)
    merged = read_results(out)
    assert [r["index"] for r in merged.rows] == [0, 1, 3, 4] and [r["radius"] for r in merged.rows] == [
        0.0, 0.1, 0.3, 0.4]
    assert merged.config == config and not list(tmp_path.glob("r.tsv.part*"))


def test_summary_of_an_empty_file_is_nan(tmp_path):
    writer = ResultsWriter(str(tmp_path / "e.tsv"), {"command": "certify"}, CERTIFY_COLUMNS, resume=False)
    writer.close()
    s = summary(read_results(str(tmp_path / "e.tsv")))
    assert s["examples"] == 0 and np.isnan(s["accuracy"]) and np.isnan(s["average_certified_radius"])
    assert all(np.isnan(v) for v in s["certified_accuracy"].values())
