"""End-to-end DCGAN runs: outputs and protocol, resume, kill -9 → bit-identical, multi-host, config errors."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from experiments.dcgan.configs.default import get_config
from experiments.dcgan.train import make_setup, train_and_evaluate
from genvision_jax.train import Checkpointer, make_mesh
from genvision_jax.train.gan import abstract_gan_state

REPO = Path(__file__).resolve().parents[2]
CONFIG = "experiments/dcgan/configs/default.py"


def _final_state(workdir, config):
    mesh = make_mesh(jax.devices()[:1])
    restored = Checkpointer(Path(workdir) / "ckpt").restore_latest(abstract_gan_state(make_setup(config), mesh))
    assert restored is not None, f"no checkpoint in {workdir}"
    return restored[0], restored[1]


def _env(devices):
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO))
    env.pop("XLA_FLAGS", None)
    return env


def _cmd(workdir, *overrides, devices=1, extra=()):
    return [sys.executable, "-m", "experiments.dcgan.main", f"--config={CONFIG}:tiny", f"--workdir={workdir}",
            f"--local_cpu_devices={devices}", *overrides, *extra]


def test_tiny_in_process_writes_outputs_and_resumes(tmp_path, capsys):
    config = get_config("tiny")
    out = train_and_evaluate(config, str(tmp_path))
    assert out["metrics"]["train_steps"] == config.num_steps
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["protocol"]["dataset"] == "digits" and res["protocol"]["image_size"] == 16
    env = res["environment"]
    assert env["device_count"] == len(jax.devices()) and env["packages"]["jax"] == jax.__version__
    rows = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4, 6]
    assert all(np.isfinite(r["d_loss"]) and np.isfinite(r["g_loss"]) for r in rows)
    assert (tmp_path / "samples_0000003.png").exists() and (tmp_path / "samples_final.png").exists()
    assert json.loads((tmp_path / "config.json").read_text())["batch_size"] == 16
    # Re-running the finished run resumes at the last step, trains nothing and keeps the params.
    step, before = _final_state(tmp_path, config)
    capsys.readouterr()
    again = train_and_evaluate(config, str(tmp_path))
    assert f"resuming from step {config.num_steps}" in capsys.readouterr().out
    assert step == config.num_steps and again["metrics"]["train_steps"] == config.num_steps
    for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(again["state"])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_unknown_config_key_is_named(tmp_path):
    p = subprocess.run(_cmd(tmp_path, "--config.batchsize=3"), cwd=REPO, env=_env(1), capture_output=True,
                       text=True, timeout=300)
    assert p.returncode != 0
    assert "batchsize" in p.stderr


@pytest.mark.slow
def test_kill9_then_resume_is_bit_identical(tmp_path):
    overrides = ("--config.num_steps=60", "--config.checkpoint_every=2", "--config.log_every=10",
                 "--config.sample_every=1000")
    full, killed = tmp_path / "full", tmp_path / "killed"
    subprocess.run(_cmd(full, *overrides, devices=2), cwd=REPO, env=_env(2), check=True, capture_output=True,
                   timeout=600)
    proc = subprocess.Popen(_cmd(killed, *overrides, devices=2), cwd=REPO, env=_env(2),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marker = killed / "ckpt" / "manifests" / "10.json"
    deadline = time.time() + 300
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert marker.exists(), "the run ended before the kill could land"
    killed_at = max(int(p.name) for p in (killed / "ckpt").iterdir() if p.name.isdigit())
    assert killed_at < 60, "the kill landed after training had finished"
    resumed = subprocess.run(_cmd(killed, *overrides, devices=2), cwd=REPO, env=_env(2), check=True,
                             capture_output=True, text=True, timeout=600)
    assert f"resuming from step {killed_at}" in resumed.stdout  # a resume, not a restart from step 0
    assert killed_at >= 10 and not (killed / "ckpt" / "corrupt").exists()
    config = get_config("tiny")
    s_full, a = _final_state(full, config)
    s_killed, b = _final_state(killed, config)
    assert s_full == s_killed == 60
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))  # bit-identical


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_of_four_devices_match_one_process_of_eight(tmp_path):
    overrides = ("--config.num_steps=4", "--config.checkpoint_every=4", "--config.sample_every=1000")
    single, multi = tmp_path / "single", tmp_path / "multi"
    subprocess.run(_cmd(single, *overrides, devices=8), cwd=REPO, env=_env(8), check=True, capture_output=True,
                   timeout=600)
    port = _free_port()
    procs = [subprocess.Popen(_cmd(multi, *overrides, devices=4,
                                   extra=(f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2",
                                          f"--process_id={i}")),
                              cwd=REPO, env=_env(4), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(o[-3000:] for o in outs)
    res = json.loads((multi / "results.json").read_text())
    assert res["environment"]["process_count"] == 2 and res["environment"]["device_count"] == 8
    config = get_config("tiny")
    s1, a = _final_state(single, config)
    s2, b = _final_state(multi, config)
    assert s1 == s2 == 4
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=1e-5)


def test_nonfinite_loss_stops_with_step_and_quantity_and_keeps_last_checkpoint(tmp_path, monkeypatch):
    import experiments.dcgan.train as dcgan_train
    from genvision_jax.train.loop import NonFiniteError

    real_make_data = dcgan_train.make_data

    class PoisonAfter:
        """Yields the real batches, then NaN images from the 5th batch on."""

        def __init__(self, pipeline):
            self.pipeline, self.n = pipeline, 0

        def __next__(self):
            batch = next(self.pipeline)
            self.n += 1
            if self.n >= 5:
                batch = {**batch, "image": np.full_like(batch["image"], np.nan)}
            return batch

        def get_state(self):
            return self.pipeline.get_state()

        def set_state(self, s):
            self.pipeline.set_state(s)

    monkeypatch.setattr(dcgan_train, "make_data", lambda *a: PoisonAfter(real_make_data(*a)))
    config = get_config("tiny")
    with config.unlocked():
        config.num_steps, config.log_every, config.checkpoint_every = 8, 3, 2
    with pytest.raises(NonFiniteError, match=r"non-finite d_loss = nan at step 5") as e:
        train_and_evaluate(config, str(tmp_path))
    assert e.value.step == 5
    step, state = _final_state(tmp_path, config)
    assert step == 4  # saved before the bad step; nothing after it
    assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(state) if np.asarray(x).dtype.kind == "f")


def test_truncated_latest_checkpoint_resumes_from_previous_and_ends_identical(tmp_path, capsys, caplog):
    config = get_config("tiny")  # 6 steps, checkpoints at 2, 4, 6
    full = train_and_evaluate(config, str(tmp_path / "full"))["state"]
    run = tmp_path / "run"
    train_and_evaluate(config, str(run))
    latest = run / "ckpt" / "6"
    victim = max((p for p in latest.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    capsys.readouterr()
    with caplog.at_level("WARNING"):
        again = train_and_evaluate(config, str(run))["state"]
    assert "checkpoint at step 6" in caplog.text and "truncated" in caplog.text
    assert "resuming from step 4" in capsys.readouterr().out
    for a, b in zip(jax.tree.leaves(full), jax.tree.leaves(again)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # steps 5-6 redone exactly
