"""DCGAN end to end at `tiny` scale: outputs and protocol, a finished run re-run, the generative
evaluator in the loop. (Resume, damage, NaN and device guarantees: tests/train/test_lifecycle.py.)"""

import json

import jax
import numpy as np

from experiments.dcgan.configs.default import get_config
from genvision_jax.tasks.gan_images import train_and_evaluate


def test_tiny_in_process_writes_outputs_and_resumes(tmp_path, capsys):
    config = get_config("tiny")
    out = train_and_evaluate(config, str(tmp_path))
    assert out["metrics"]["train_steps"] == config.num_steps
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["protocol"]["dataset"] == "digits" and res["protocol"]["image_size"] == 16
    env = res["environment"]
    assert env["device_count"] == len(jax.devices()) and env["packages"]["jax"] == jax.__version__
    assert res["run"] == {"start_step": 0, "num_steps": 6, "train_time_s": res["run"]["train_time_s"],
                          "first_step_s": res["run"]["first_step_s"], "config_changes": []}
    assert res["run"]["train_time_s"] > 0
    # seconds since the process started: this pytest process began before the test did
    assert res["run"]["first_step_s"] > 0
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4, 6]
    assert all(np.isfinite(r["d_loss"]) and np.isfinite(r["g_loss"]) for r in rows)
    assert (tmp_path / "samples_0000003.png").exists() and (tmp_path / "samples_final.png").exists()
    stored = json.loads((tmp_path / "config.json").read_text())
    assert stored["batch_size"] == 16 and stored["trainer"] == "gan_images" and "allow_config_change" not in stored
    # Re-running the finished run resumes at the last step, trains nothing and keeps the params.
    capsys.readouterr()
    again = train_and_evaluate(config, str(tmp_path))
    assert f"resuming from step {config.num_steps}" in capsys.readouterr().out
    assert again["metrics"]["train_steps"] == config.num_steps
    for a, b in zip(jax.tree.leaves(out["state"]), jax.tree.leaves(again["state"])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_in_loop_and_final_generative_metrics(tmp_path):
    """FID and KID at step 0, in the loop and at the end, on 32x32 digits with the domain classifier."""
    config = get_config("tiny")
    with config.unlocked():
        config.dataset.image_size = 32
        config.num_steps, config.eval.fid_every = 4, 2
        config.eval.metrics = ("fid", "kid")
        config.eval.num_samples, config.eval.batch_size = 64, 32
        config.eval.standard_extractor = "inception:tf2015"  # gray digits, repeated to RGB, resized to 299
        config.eval.standard_num_samples = config.eval.standard_num_real = 8
        config.sample_every = 0
    m = train_and_evaluate(config, str(tmp_path))["metrics"]
    for key in ("fid_initial", "kid_initial", "fid_final", "fid_final_ema", "kid_final", "fid_real_test_split",
                "fid_inception_initial", "kid_inception_initial", "fid_inception_final", "kid_inception_final"):
        assert np.isfinite(m[key]), key
    assert m["fid_inception_initial"] > 0 and m["fid_inception_final"] > 0
    assert m["fid_inception_initial"] != m["fid_inception_final"]
    assert m["fid_final"] > m["fid_real_test_split"] > 0  # a 4-step generator is far from real digits
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "fid" in r] == [0, 2, 4]
    res = json.loads((tmp_path / "results.json").read_text())
    standard = res["protocol"]["generative_inception"]["fid"]
    assert standard["feature_extractor"] == "inception_tf2015/pool3" and standard["resize"] == "tf1"
    assert (standard["n_fake"], standard["n_real"]) == (8, 8)
    kid = res["protocol"]["generative"]["kid"]
    assert kid["subset_size"] == 64 and kid["subset_size_reduced"] is True  # 64 samples < 1000: recorded
