"""The run lifecycle's guarantees, proven for every trainer (a trainer added later adds a TRAINERS row):

- kill -9 after a checkpoint, then re-run: the final state is bit-identical to an uninterrupted run;
- the newest checkpoint truncated, byte-flipped, or stripped of its manifest with altered bytes: the
  run falls back to the previous step with a warning and still ends bit-identical;
- a NaN/Inf: the run stops naming the step and the quantity, and the last checkpoint stays intact;
- a changed config on resume: refused with the differing keys, every workdir file unchanged;
- 1 vs 8 devices: the same training;
- 2 processes x 4 devices = 1 process x 8 devices (dcgan, nerf).

The uninterrupted runs are made once per trainer, in this process (on 1 and on 8 devices), and shared by
the tests of that trainer (one xdist group per trainer). A process started with 8 local CPU devices gives
bit for bit the numbers of this 8-device process, so the kill -9 runs use 8 devices and compare with it.
`make test` damages each trainer's checkpoint in one of the three ways (every way on two trainers), so
every trainer's resume from a checkpoint is proven bit-identical in process; it kills five trainers (dcgan,
instant_ngp, reid, stylegan with ADA's p != 0, progan during its 8x8 fade-in) with SIGKILL and runs the 2-process
test for dcgan. `make test-full` (GENVISION_TEST_FULL=1) does all three damages, the kill and the 2-process run
for every trainer named above.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from experiments.app import build_config, trainer_of
from genvision_jax.errors import ConfigChangeError
from genvision_jax.train import make_mesh
from genvision_jax.train.loop import NonFiniteError

REPO = Path(__file__).resolve().parents[2]


@dataclasses.dataclass(frozen=True)
class Trainer:
    """A trainer at lifecycle-test size: its config, overrides (as on the command line) and the
    learning-rate keys that make it diverge."""

    config: str
    overrides: tuple[tuple[str, str], ...]
    lr_keys: tuple[str, ...]
    change: tuple[str, str]  # a key and a new value that changes the run


SIX = (("num_steps", "6"), ("checkpoint_every", "2"), ("log_every", "2"))
TRAINERS = {
    "dcgan": Trainer("experiments/dcgan/configs/default.py:tiny", SIX + (("sample_every", "0"),),
                     ("g_optimizer.learning_rate", "d_optimizer.learning_rate"), ("gan.loss", "hinge")),
    "gan_mode_collapse": Trainer("experiments/gan_mode_collapse/configs/default.py:tiny", SIX,
                                 ("g_optimizer.learning_rate", "d_optimizer.learning_rate"), ("gan.loss", "hinge")),
    "nerf": Trainer("experiments/nerf/configs/default.py:tiny", SIX + (("eval.every", "0"),
                                                                      ("eval.video_frames", "0")),
                    ("optimizer.learning_rate",), ("render.num_coarse", "12")),
    "instant_ngp": Trainer("experiments/field_race/configs/default.py:tiny",
                           SIX + (("eval.every", "0"), ("eval.video_frames", "0"), ("field.name", "instant_ngp"),
                                  ("field.kwargs", "{'hash_levels': 2, 'hash_log2_size': 8, 'hash_max_res': 32, "
                                                   "'density_hidden': 8, 'color_hidden': 8}"),
                                  ("render.num_fine", "0"), ("render.occupancy_resolution", "4")),
                           ("optimizer.learning_rate",), ("batch_rays", "128")),
    "reid": Trainer("experiments/mot_trackers/configs/default.py:tiny", SIX, ("reid.train.learning_rate",),
                    ("reid.train.margin", "0.5")),
    # ADA on with p != 0 from the start and moving every 2 steps, so the resume must restore p and its sums.
    "stylegan": Trainer("experiments/stylegan/configs/default.py:tiny",
                        SIX + (("sample_every", "0"), ("stylegan.ada_target", "0.6"), ("stylegan.ada_p", "0.2"),
                               ("stylegan.ada_interval", "2"), ("stylegan.ada_kimg", "0.5")),
                        ("g_optimizer.learning_rate", "d_optimizer.learning_rate"), ("stylegan.mixing_prob", "0.5")),
    # ProGAN growing 4 -> 8 -> 16: the step-2 checkpoint falls inside the 8x8 fade-in (alpha 0 -> 0.5 -> 1).
    "progan": Trainer("experiments/progressive_vs_skip/configs/default.py:tiny", SIX + (("sample_every", "0"),),
                      ("g_optimizer.learning_rate", "d_optimizer.learning_rate"), ("progan.gp_weight", "5.0")),
    "classifier": Trainer("experiments/domain_classifier/configs/default.py:tiny", SIX, ("learning_rate",),
                          ("batch_size", "32")),
}
NAMES = sorted(TRAINERS)
FULL = os.environ.get("GENVISION_TEST_FULL") == "1"


def per_trainer(*names: str):
    """`names` as parameters, each in the xdist group of its trainer (so its shared runs are made once)."""
    return [pytest.param(n, marks=pytest.mark.xdist_group(f"lifecycle_{n}")) for n in (names or NAMES)]


def _config(name: str, *extra: tuple[str, str]):
    spec = TRAINERS[name]
    return build_config(str(REPO / spec.config), dict(spec.overrides + extra))


def _train(name: str, workdir, *extra, devices: int | None = None):
    """The trainer in this process (on the first `devices` devices; default all 8)."""
    config = _config(name, *extra)
    mesh = make_mesh(jax.devices()[:devices] if devices else jax.devices())
    return trainer_of(config)(config, str(workdir), mesh=mesh)


def _cli(name: str, workdir, *extra, devices: int = 1, processes: tuple[int, int, int] | None = None):
    """The command line of the trainer's study (`experiments.<study>.main`) with its overrides."""
    spec = TRAINERS[name]
    study = spec.config.split("/")[1]
    args = [sys.executable, "-m", f"experiments.{study}.main", f"--config={spec.config}", f"--workdir={workdir}",
            f"--local_cpu_devices={devices}"]
    args += [f"--config.{k}={v}" for k, v in spec.overrides + tuple(extra)]
    if processes is not None:
        port, count, index = processes
        args += [f"--coordinator_address=127.0.0.1:{port}", f"--num_processes={count}", f"--process_id={index}"]
    return args


def _env():
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO))
    env.pop("XLA_FLAGS", None)
    return env


def final_state(workdir) -> tuple[int, list[np.ndarray]]:
    """(step, leaves) of the newest checkpoint, read back as numpy arrays."""
    ckpt = Path(workdir) / "ckpt"
    step = max(int(p.name) for p in ckpt.iterdir() if p.name.isdigit())
    checkpointer, path = ocp.PyTreeCheckpointer(), ckpt / str(step) / "state"
    metadata = checkpointer.metadata(path).item_metadata.tree
    as_numpy = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), metadata)
    state = checkpointer.restore(path, restore_args=as_numpy)  # any process layout, as host arrays
    return step, [np.asarray(x) for x in jax.tree.leaves(state)]


def assert_same_state(a, b, exact: bool = True):
    (step_a, leaves_a), (step_b, leaves_b) = final_state(a), final_state(b)
    assert step_a == step_b and len(leaves_a) == len(leaves_b)
    for x, y in zip(leaves_a, leaves_b):
        if exact:
            np.testing.assert_array_equal(x, y)
        else:
            np.testing.assert_allclose(x, y, rtol=2e-4, atol=2e-5)


def snapshot(workdir) -> dict[str, str]:
    """sha256 of every file under the workdir, by relative path."""
    root = Path(workdir)
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _uninterrupted(tmp_path_factory, devices: int):
    runs = {}

    def get(name):
        if name not in runs:
            workdir = tmp_path_factory.mktemp(f"uninterrupted_{name}_{devices}dev")
            _train(name, workdir, devices=devices)
            runs[name] = workdir
        return runs[name]

    return get


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Uninterrupted in-process runs on one device, one per trainer, made when first asked for."""
    return _uninterrupted(tmp_path_factory, 1)


@pytest.fixture(scope="module")
def eight(tmp_path_factory):
    """Uninterrupted in-process runs on all 8 devices, one per trainer, made when first asked for."""
    return _uninterrupted(tmp_path_factory, 8)


# ------------------------------------------------------------------------------------- kill -9


@pytest.mark.slow
@pytest.mark.parametrize("name", per_trainer(*(() if FULL else ("dcgan", "instant_ngp", "reid", "stylegan", "progan"))))
def test_kill9_then_resume_ends_bit_identical(tmp_path, name, eight):
    """SIGKILL right after the step-2 checkpoint's manifest lands; the re-run resumes from a
    checkpoint (not step 0) and ends with the exact state of an uninterrupted run on the same device
    count (numerics are exact per device layout, not across an 8- and a 1-device client)."""
    uninterrupted = eight(name)  # first: it also fills the persistent compilation cache the killed run then reads
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_cli(name, killed, devices=8), cwd=REPO, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    marker = killed / "ckpt" / "manifests" / "2.json"
    deadline = time.time() + 300
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate()
    assert marker.exists(), f"the run ended before the kill could land: {err.decode()[-2000:]}"
    saved = [int(p.name) for p in (killed / "ckpt").iterdir() if p.name.isdigit()]
    assert max(saved) < 6, "the kill landed after training had finished"
    resumed = subprocess.run(_cli(name, killed, devices=8), cwd=REPO, env=_env(), capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming from step {max(saved)}" in resumed.stdout
    assert not (killed / "ckpt" / "corrupt").exists()
    assert_same_state(killed, uninterrupted)


# ------------------------------------------------------------------------------------- damaged checkpoints


def _damage(step_dir: Path, manifest: Path, how: str) -> None:
    files = sorted((p for p in (step_dir / "state").rglob("*") if p.is_file() and p.parent.name == "d"),
                   key=lambda p: p.stat().st_size)
    victim = files[-1]  # the largest file of array data (OCDBT's d/ chunks; not the JSON metadata)
    blob = bytearray(victim.read_bytes())
    if how == "truncate":
        victim.write_bytes(bytes(blob[: len(blob) // 2]))
        return
    if how == "manifest_deleted_and_bytes_altered":
        manifest.unlink()
    for f in files:  # one byte in the middle of every data file, so the arrays' bytes are hit for sure
        blob = bytearray(f.read_bytes())
        blob[len(blob) // 2] ^= 0x40
        f.write_bytes(bytes(blob))


DAMAGES = ("truncate", "byte_flip", "manifest_deleted_and_bytes_altered")
DAMAGE_CASES = [(n, how) for n in NAMES for how in DAMAGES] if FULL else \
    [(n, DAMAGES[i % len(DAMAGES)]) for i, n in enumerate(NAMES)]


@pytest.mark.parametrize("name,how", [pytest.param(n, how, marks=pytest.mark.xdist_group(f"lifecycle_{n}"))
                                      for n, how in DAMAGE_CASES])
def test_damaged_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, name, how, reference, caplog, capsys):
    run = tmp_path / "run"
    shutil.copytree(reference(name), run)
    _damage(run / "ckpt" / "6", run / "ckpt" / "manifests" / "6.json", how)
    capsys.readouterr()
    with caplog.at_level(logging.WARNING):
        _train(name, run, devices=1)
    assert "checkpoint at step 6" in caplog.text and "unusable" in caplog.text, caplog.text
    assert "resuming from step 4" in capsys.readouterr().out
    assert [p.name.split("-")[0] for p in (run / "ckpt" / "corrupt").iterdir()] == ["6"]
    assert_same_state(run, reference(name))  # steps 5-6 redone exactly


# ------------------------------------------------------------------------------------- NaN / Inf


@pytest.mark.parametrize("name", per_trainer())
def test_nonfinite_stops_naming_step_and_quantity_and_keeps_the_last_checkpoint(tmp_path, name):
    """Four good steps (checkpoints at 2 and 4), then the run resumes with a learning rate that
    overflows: it stops at the first non-finite quantity and saves nothing after step 4."""
    short = (("num_steps", "4"),)
    _train(name, tmp_path, *short, devices=1)
    before = final_state(tmp_path)
    diverge = tuple((key, "1e30") for key in TRAINERS[name].lr_keys)
    with pytest.raises(NonFiniteError) as err:
        _train(name, tmp_path, ("num_steps", "8"), ("allow_config_change", "True"), *diverge, devices=1)
    assert 4 < err.value.step <= 8 and err.value.name
    message = str(err.value)
    assert f"at step {err.value.step}" in message and err.value.name in message
    assert f"The last checkpoint, step 4 in {tmp_path / 'ckpt'}, is intact" in message
    assert sorted(int(p.name) for p in (tmp_path / "ckpt").iterdir() if p.name.isdigit()) == [2, 4]
    after = final_state(tmp_path)
    assert after[0] == before[0] == 4
    for x, y in zip(before[1], after[1]):
        np.testing.assert_array_equal(x, y)
        if x.dtype.kind == "f":
            assert np.all(np.isfinite(x))


def test_nonfinite_before_any_checkpoint_says_there_is_none(tmp_path):
    with pytest.raises(NonFiniteError, match="No checkpoint was saved before it") as err:
        _train("classifier", tmp_path, ("learning_rate", "1e30"), ("checkpoint_every", "0"), devices=1)
    assert "is intact" not in str(err.value)


# ------------------------------------------------------------------------------------- changed config


@pytest.mark.parametrize("name", per_trainer())
def test_changed_config_is_refused_with_the_keys_and_nothing_changes(tmp_path, name, reference):
    run = tmp_path / "run"
    shutil.copytree(reference(name), run)
    before = snapshot(run)
    key, value = TRAINERS[name].change
    with pytest.raises(ConfigChangeError) as err:
        _train(name, run, (key, value), devices=1)
    assert key in str(err.value) and [d[0] for d in err.value.differences] == [key]
    assert snapshot(run) == before
    # Allowed, the change is recorded in config.json and results.json (training ends at the same step).
    _train(name, run, (key, value), ("allow_config_change", "True"), devices=1)
    stored = json.loads((run / "config.json").read_text())
    assert stored["history"][0]["step"] == 6 and key in stored["history"][0]["changes"]
    results = json.loads((run / "results.json").read_text())
    assert key in results["run"]["config_changes"][0]["changes"]


# ------------------------------------------------------------------------------------- devices and processes


TIMING = ("steps_per_s", "train_time_s", "wall_time", "_per_s", "fps", "seconds", "video_time_s")


def _numbers(tree, prefix=""):
    """{path: float} of every number in a JSON tree, timings left out."""
    if isinstance(tree, dict):
        return {k: v for key, value in tree.items() if not any(t in key for t in TIMING)
                for k, v in _numbers(value, f"{prefix}{key}.").items()}
    if isinstance(tree, list):
        return {k: v for i, value in enumerate(tree) for k, v in _numbers(value, f"{prefix}{i}.").items()}
    if isinstance(tree, (int, float)) and not isinstance(tree, bool):
        return {prefix: float(tree)}
    return {}


@pytest.mark.parametrize("name", per_trainer())
def test_one_and_eight_devices_train_the_same(name, reference, eight):
    """Every logged metric of every step and every result agree to float reassociation, and so does the
    state as a whole. Not every parameter element: a bias in front of a normalization has a gradient
    that is 0 in exact arithmetic and float noise in practice, which Adam turns into steps of the
    learning rate's size, differently for every reduction order (measured: the classifier's conv
    biases, 8 values each, move by up to 9e-3 between 1 and 8 devices; nothing else by more than 1e-5)."""
    one, eight = reference(name), eight(name)
    rows = [[_numbers(json.loads(line)) for line in (w / "metrics.jsonl").read_text().splitlines()]
            for w in (one, eight)]
    assert len(rows[0]) == len(rows[1]) > 0
    for a, b in zip(*rows):
        assert a.keys() == b.keys()
        for k in a:
            assert b[k] == pytest.approx(a[k], rel=2e-3, abs=1e-5), (k, a, b)
    res = [_numbers(json.loads((w / "results.json").read_text())["metrics"]) for w in (one, eight)]
    assert res[0].keys() == res[1].keys()
    for k in res[0]:
        assert res[1][k] == pytest.approx(res[0][k], rel=2e-3, abs=1e-4), k
    (_, a), (_, b) = final_state(one), final_state(eight)
    floats = [(x, y) for x, y in zip(a, b) if x.dtype.kind == "f"]
    diff = np.sqrt(sum(float(np.sum((x - y) ** 2)) for x, y in floats))
    norm = np.sqrt(sum(float(np.sum(x ** 2)) for x, _ in floats))
    assert diff <= 1e-2 * norm, (diff, norm)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("name", per_trainer(*(("dcgan", "nerf") if FULL else ("dcgan",))))
def test_two_processes_of_four_devices_match_one_process_of_eight(tmp_path, name, eight):
    single, multi = eight(name), tmp_path / "multi"
    port = _free_port()
    procs = [subprocess.Popen(_cli(name, multi, devices=4, processes=(port, 2, i)), cwd=REPO, env=_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(o[-3000:] for o in outs)
    res = json.loads((multi / "results.json").read_text())
    assert res["environment"]["process_count"] == 2 and res["environment"]["device_count"] == 8
    assert_same_state(single, multi, exact=False)


def test_process_age_counts_from_the_process_start():
    import subprocess
    import sys
    import time

    from genvision_jax.train.run import process_age_s

    a = process_age_s()
    time.sleep(0.3)
    b = process_age_s()
    assert a is not None and a > 0 and 0.2 < b - a < 5.0
    # a fresh interpreter that sleeps 1 s after starting reports an age of at least that
    code = "import time; time.sleep(1.0); from genvision_jax.train.run import process_age_s; print(process_age_s())"
    age = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert 1.0 <= age < 30.0
