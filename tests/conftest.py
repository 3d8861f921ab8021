"""Test harness: JAX sees 8 CPU devices, so sharding code paths run as on a pod slice."""

import os
import shutil
import tempfile

# Datasets and compiled programs go to a fresh directory per test session (shared by xdist workers and
# subprocesses through the environment), so the suite exercises dataset preparation as a fresh machine
# does and never reads a stale cache from ~/.cache.
_CREATED_ROOT = None
if "GENVISION_TEST_ROOT" not in os.environ:
    _CREATED_ROOT = os.environ["GENVISION_TEST_ROOT"] = tempfile.mkdtemp(prefix="genvision_test_")
os.environ["GENVISION_DATA_DIR"] = os.path.join(os.environ["GENVISION_TEST_ROOT"], "tensorflow_datasets")
os.environ["GENVISION_CACHE_DIR"] = os.path.join(os.environ["GENVISION_TEST_ROOT"], "cache")

# Must happen before JAX initializes its backends.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
import jax  # noqa: E402

jax.config.update("jax_num_cpu_devices", 8)
jax.config.update("jax_enable_x64", False)

# The session's compiled programs are cached on disk (GENVISION_CACHE_DIR, shared by the xdist workers
# and the subprocesses tests start): the many tiny runs of the same trainer compile each program once.
from genvision_jax.train.runtime import enable_compilation_cache  # noqa: E402

os.environ["GENVISION_CACHE_MIN_COMPILE_SECS"] = "0.3"
enable_compilation_cache()


# Skips are allowed only with a reason listed in tests/skip_allowlist.txt.
_ALLOWED_SKIPS = [line.strip() for line in
                  open(os.path.join(os.path.dirname(__file__), "skip_allowlist.txt")).read().splitlines()
                  if line.strip() and not line.startswith("#")]
_SKIPS: list[tuple[str, str, bool]] = []  # (test, reason, allowed)


def pytest_runtest_logreport(report):
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _SKIPS.append((report.nodeid, reason, any(a in reason for a in _ALLOWED_SKIPS)))


def pytest_terminal_summary(terminalreporter):
    bad = [s for s in _SKIPS if not s[2]]
    terminalreporter.write_line(f"skips: {len(_SKIPS)} ({len(_SKIPS) - len(bad)} allowed by tests/skip_allowlist.txt)")
    for test, reason, _ in bad:
        terminalreporter.write_line(f"  skip not in the allow-list: {test}: {reason}")


def pytest_sessionfinish(session, exitstatus):
    if any(not allowed for _, _, allowed in _SKIPS) and session.exitstatus == 0:
        session.exitstatus = 1
    # Only the process that made the directory (the xdist controller, or a plain run) removes it.
    if _CREATED_ROOT and not os.environ.get("PYTEST_XDIST_WORKER"):
        shutil.rmtree(_CREATED_ROOT, ignore_errors=True)
