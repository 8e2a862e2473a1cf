"""Checks of the optional ``labels`` of certify / certify_sequential (inputs whose selected class is not their
label skip the estimation phase)."""

from __future__ import annotations

import numpy as np
import torch


def check_labels(labels, batch: int) -> np.ndarray | None:
    """Validate ``labels`` (a (B,) integer tensor or array of classes >= 0) and return them as int64 NumPy."""
    if labels is None:
        return None
    if isinstance(labels, torch.Tensor):
        if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
            raise TypeError(f"labels must be an integer tensor, got {labels.dtype}")
        host = labels.detach().cpu().numpy()
    else:
        host = np.asarray(labels)
        if not np.issubdtype(host.dtype, np.integer):
            raise TypeError(f"labels must be integers, got {host.dtype}")
    if host.shape != (batch,):
        raise ValueError(f"labels must have shape (B,) = ({batch},), got {tuple(host.shape)}")
    if host.size and host.min() < 0:
        raise ValueError(f"labels must be classes >= 0, got {int(host.min())}")
    return host.astype(np.int64)


def check_labels_in_range(labels: np.ndarray | None, num_classes: int) -> None:
    """Labels must name one of the model's ``num_classes`` outputs."""
    if labels is not None and labels.size and labels.max() >= num_classes:
        raise ValueError(f"labels must lie in [0, {num_classes}) for a model with {num_classes} outputs, "
                         f"got {int(labels.max())}")
