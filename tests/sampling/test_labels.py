"""certify(labels=...): misclassified inputs skip the estimation phase; the table is unchanged."""

import numpy as np
import pytest
import torch

import rsmooth_ext as rs
from rsmooth_ext.cli.results import Results, summary


class Linear3(torch.nn.Module):
    """Three classes, logits x @ W: a fixed linear rule with a known argmax region per class."""

    def __init__(self):
        super().__init__()
        w = torch.tensor([[1.0, -1.0, 0.0], [0.0, 1.0, -1.0]])
        self.w = torch.nn.Parameter(w, requires_grad=False)

    def forward(self, x):
        return x.flatten(1).float() @ self.w


def _table(result, labels):
    rows = [{"prediction": int(p), "correct": int(p == y), "radius": float(r)}
            for p, y, r in zip(result.prediction, labels, result.radius)]
    return summary(Results({}, ["prediction", "correct", "radius"], rows), radii=[0.0, 0.1, 0.25, 0.5, 1.0])


def test_skipped_inputs_leave_certified_accuracy_and_acr_unchanged():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 2, generator=g)
    labels = torch.randint(0, 3, (40,), generator=g)
    model, noise = Linear3(), rs.Gaussian(sigma=0.5)
    full = rs.certify(model, x, noise, 30, 300, 0.01, seed=4, batch_size=64)
    skip = rs.certify(model, x, noise, 30, 300, 0.01, seed=4, batch_size=64, labels=labels)
    selected = full.counts_selection.argmax(1)
    expected_skip = selected != labels
    assert expected_skip.any() and not expected_skip.all()
    assert torch.equal(skip.skipped, expected_skip) and not full.skipped.any()
    kept = ~expected_skip
    # the kept inputs drew exactly the samples of the unskipped run: same counts, bounds and radii
    assert torch.equal(skip.counts_estimation[kept], full.counts_estimation[kept])
    assert torch.equal(skip.p_lower[kept], full.p_lower[kept]) and torch.equal(skip.radius[kept], full.radius[kept])
    assert torch.equal(skip.prediction[kept], full.prediction[kept])
    assert (skip.counts_estimation[expected_skip] == 0).all()
    assert torch.equal(skip.prediction[expected_skip], selected[expected_skip])
    assert skip.p_lower[expected_skip].isnan().all() and skip.radius[expected_skip].isnan().all()
    # abstention differs by design (a skipped input reports its selected class); the table does not
    for key in ("accuracy", "average_certified_radius", "certified_accuracy"):
        assert _table(skip, labels)[key] == _table(full, labels)[key]


def test_skipping_does_not_depend_on_batch_size_or_order():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(11, 2, generator=g)
    labels = torch.randint(0, 3, (11,), generator=g)
    model, noise = Linear3(), rs.Laplace(sigma=0.5)
    ref = rs.certify(model, x, noise, 20, 100, 0.05, seed=2, labels=labels)
    perm = torch.randperm(11, generator=g)
    for bs in (1, 30):
        r = rs.certify(model, x[perm], noise, 20, 100, 0.05, seed=2, batch_size=bs, input_ids=perm,
                       labels=labels[perm])
        assert torch.equal(r.skipped, ref.skipped[perm])
        assert torch.equal(r.radius.nan_to_num(-1.0), ref.radius[perm].nan_to_num(-1.0))


def test_all_inputs_skipped_draws_no_estimation_samples():
    calls = []

    class Recording(Linear3):
        def forward(self, x):
            calls.append(x.shape[0])
            return super().forward(x)

    x = torch.tensor([[3.0, 0.0], [3.0, 0.0]])  # class 0 everywhere near x
    res = rs.certify(Recording(), x, rs.Gaussian(sigma=0.1), 10, 500, 0.01, seed=0, labels=torch.tensor([1, 2]))
    assert res.skipped.all() and sum(calls) == 2 * 10


@pytest.mark.parametrize("labels,exc,match", [
    (torch.tensor([0.0, 1.0]), TypeError, "labels must be an integer tensor, got torch.float32"),
    (torch.tensor([0, 1, 2]), ValueError, r"labels must have shape \(B,\) = \(2,\), got \(3,\)"),
    (torch.tensor([0, -1]), ValueError, "labels must be classes >= 0, got -1"),
    (torch.tensor([0, 3]), ValueError, r"labels must lie in \[0, 3\) for a model with 3 outputs, got 3"),
    (np.array(["a", "b"]), TypeError, "labels must be integers"),
])
def test_bad_labels(labels, exc, match):
    with pytest.raises(exc, match=match):
        rs.certify(Linear3(), torch.randn(2, 2), rs.Gaussian(sigma=0.5), 10, 20, 0.1, seed=0, labels=labels)
