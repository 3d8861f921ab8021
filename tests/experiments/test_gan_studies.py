"""gan_mode_collapse and gan_losses: every config's tiny variant, resume, and the sweep runner."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from experiments import sweep
from experiments.gan_losses.configs import default as losses_configs
from experiments.gan_mode_collapse.configs import default as collapse_configs
from genvision_jax.errors import ConfigError
from genvision_jax.tasks.gan_points import train_and_evaluate as collapse_train

REPO = Path(__file__).resolve().parents[2]


def test_mode_collapse_tiny_reports_per_seed_coverage_and_resumes(tmp_path, capsys):
    config = collapse_configs.get_config("tiny")
    out = collapse_train(config, str(tmp_path))
    m = out["metrics"]
    assert len(m["modes_covered_per_seed"]) == config.num_seeds == 2
    assert m["modes_covered"] == pytest.approx(np.mean(m["modes_covered_per_seed"]))
    assert m["modes_covered_std"] == pytest.approx(np.std(m["modes_covered_per_seed"], ddof=1))
    assert 0.0 <= m["high_quality"] <= 1.0 and m["num_modes"] == 8
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["protocol"]["seeds"] == [0, 1] and res["protocol"]["num_samples"] == config.eval.num_samples
    assert np.load(tmp_path / "samples.npz")["samples"].shape == (2, config.eval.num_samples, 2)
    assert (tmp_path / "samples.png").exists()
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [3, 6]
    # Training longer in the same workdir resumes from the step-6 checkpoint.
    config.num_steps = 9
    config.allow_config_change = True
    capsys.readouterr()
    collapse_train(config, str(tmp_path))
    assert "resuming from step 6" in capsys.readouterr().out
    assert [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [3, 6, 9]


def test_mode_collapse_sweep_covers_every_loss_and_remedy():
    entries = collapse_configs.get_sweep("cpu")
    names = {e["name"] for e in entries}
    n_losses, n_remedies = len(collapse_configs.LOSSES), len(collapse_configs.REMEDIES)
    undefined = len(collapse_configs.NO_TARGET_LOSSES)  # label smoothing x losses without a target
    assert len(entries) == len(names) == 2 * (n_losses * n_remedies - undefined)
    for e in entries:
        sweep.apply_overrides(collapse_configs.get_config("cpu"), e["overrides"])  # every key exists


def test_gan_losses_sweep_overrides_apply():
    base = losses_configs.get_config("cpu")
    entries = losses_configs.get_sweep("cpu")
    assert len(entries) == 2 * 5 * 3
    cfg = sweep.apply_overrides(base, next(e for e in entries if e["name"] == "shapes/wgan_gp/spectral")["overrides"])
    assert (cfg.dataset.name, cfg.dataset.channels, cfg.model.d_norm) == ("shapes", 3, "spectral")
    assert (cfg.gan.n_critic, cfg.gan.penalty, cfg.d_optimizer.b1, cfg.d_optimizer.b2) == (5, "wgan_gp", 0.0, 0.9)
    with pytest.raises(ConfigError, match="no key 'penalty_wieght'"):
        sweep.apply_overrides(base, {"gan.penalty_wieght": 1.0})


def test_sweep_runner_tabulates_runs_and_records_failures(tmp_path, monkeypatch):
    config_path = str(REPO / "experiments/gan_losses/configs/default.py") + ":tiny"
    monkeypatch.chdir(REPO)
    report = sweep.run_sweep(config_path, str(tmp_path), only="digits/wgan_gp/spectral", seeds=[0])
    (run,) = report["runs"]
    assert run["failed"] == [] and run["missing"] == []
    res = json.loads((tmp_path / "digits/wgan_gp/spectral/seed0/results.json").read_text())
    assert res["config"]["gan"]["penalty"] == "wgan_gp" and res["config"]["model"]["d_norm"] == "spectral"
    # A variant that raises is recorded and tabulated as failed; the sweep goes on.
    def diverge(config, workdir):
        raise FloatingPointError("non-finite d_loss = nan at step 3")
    monkeypatch.setattr("genvision_jax.tasks.gan_images.train_and_evaluate", diverge)
    report = sweep.run_sweep(config_path, str(tmp_path), only="digits/hinge/none", seeds=[0])
    assert report["runs"][0]["failed"] == ["FloatingPointError: non-finite d_loss = nan at step 3"]
    assert "failed" in (tmp_path / "table.md").read_text()


def test_sweep_workers_claim_each_run_once_and_match_one_process(tmp_path, monkeypatch):
    """Two worker processes share a sweep's runs. The numbers equal one process's run of the same sweep
    (`make test-full`; `make test` checks the claims and that every run is complete)."""
    config_path = str(REPO / "experiments/gan_mode_collapse/configs/default.py") + ":tiny"
    monkeypatch.chdir(REPO)
    two = sweep.run_sweep(config_path, str(tmp_path / "two"), only="grid25/ns", workers=2)
    assert [r["name"] for r in two["runs"]] == ["grid25/ns/none", "grid25/ns/unrolled5"]
    for b in two["runs"]:
        assert b["failed"] == [] and b["missing"] == []
        assert all(len(b[m]["values"]) == 2 for m in collapse_configs.TABLE["metrics"])
    if os.environ.get("GENVISION_TEST_FULL") == "1":
        one = sweep.run_sweep(config_path, str(tmp_path / "one"), only="grid25/ns")
        assert [r["name"] for r in two["runs"]] == [r["name"] for r in one["runs"]]
        for a, b in zip(one["runs"], two["runs"]):
            for m in collapse_configs.TABLE["metrics"]:  # same programs, same seeds: identical numbers
                assert a[m]["values"] == b[m]["values"]
    logs = [(tmp_path / "two" / f"worker{k}.log").read_text() for k in range(2)]
    started = [line for log in logs for line in log.splitlines() if line.startswith("[")]
    assert len(started) == 2 and len(set(started)) == 2  # every run trained once, by one worker
    assert not (tmp_path / "two" / ".claims").exists()
    assert two["sweep_elapsed"]["workers"] == 2 and "2 worker(s)" in (tmp_path / "two" / "table.md").read_text()
    with pytest.raises(ConfigError, match="workers must be >= 1"):
        sweep.run_sweep(config_path, str(tmp_path / "zero"), workers=0)
