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


def pytest_runtest_setup(item):
    """`@pytest.mark.requires("matplotlib", ...)`: the optional modules a test imports only when it runs (inside
    the package, e.g. a plot or the demo's dataset) are checked here, so a machine without them skips the test
    and names the module instead of failing with an ImportError halfway through."""
    for marker in item.iter_markers("requires"):
        if not marker.args or not all(isinstance(name, str) for name in marker.args):
            raise TypeError(f"{item.nodeid}: @pytest.mark.requires takes module names (str), got {marker.args!r}")
        for name in marker.args:
            pytest.importorskip(name)
