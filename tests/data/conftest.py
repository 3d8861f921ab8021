"""Fixtures for data tests: every dataset is prepared under a per-session temporary directory."""

import pytest

from genvision_jax.data import sources


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    """Shared data dir, so each dataset is generated once per test session (per xdist worker)."""
    return str(tmp_path_factory.mktemp("genvision_data"))


@pytest.fixture(autouse=True)
def _no_default_data_dir(monkeypatch, tmp_path):
    # A test that forgets `data_dir=` writes into its tmp dir, never into ~/.cache.
    monkeypatch.setenv(sources.DATA_DIR_ENV, str(tmp_path / "default_data_dir"))
