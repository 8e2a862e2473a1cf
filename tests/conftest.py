"""Test-session hooks only; the shared helpers live in tests/support (an importable package)."""

import pytest
from support import CUDA_AVAILABLE


def pytest_collection_modifyitems(config, items):
    """Tests parametrized over DEVICES get the `cuda` marker on their CUDA instance, so `-m cuda` selects
    every test that runs on a GPU; without one, `cuda` tests are skipped."""
    skip = pytest.mark.skip(reason="requires a CUDA build of rsmooth_ext and a GPU")
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if str(params.get("device", "")).startswith("cuda"):
            item.add_marker(pytest.mark.cuda)
        if not CUDA_AVAILABLE and item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)
