"""The tracker study at `tiny` scale (the ReID trainer, its evaluation and the tracker benchmark):
outputs and protocol, the claims block, a re-run reuses the trained ReID and repeats every number."""

import json

import numpy as np
import pytest

from experiments.mot_trackers.configs.default import get_config
from genvision_jax.errors import ConfigError
from genvision_jax.tasks.reid import train_and_evaluate


def test_tiny_study_writes_results_and_resumes(tmp_path):
    config = get_config("tiny")
    out = train_and_evaluate(config, str(tmp_path))
    res = json.loads((tmp_path / "results.json").read_text())
    summary = res["metrics"]["summary"]
    assert list(summary) == list(config.benchmark.levels)
    for level, variants in summary.items():
        assert set(variants) == set(config.trackers)
        for name, m in variants.items():
            assert 0.0 <= m["idf1"] <= 1.0 and m["mota"] <= 1.0 and 0.0 <= m["hota"] <= 1.0, (level, name)
            assert m["fps"] > 0 and m["num_objects"] > 0
            assert 0 <= m["low_score_recovered"] <= m["low_score_total"]
        assert "fps_with_reid" in variants["deepsort"] and "fps_with_reid" not in variants["deepsort_noreid"]
    # Every variant saw the same ground truth.
    assert len({m["num_objects"] for m in summary["hard"].values()}) == 1
    claims = res["metrics"]["claims"]
    assert claims["hardest_level"] == "hard"
    assert isinstance(claims["deepsort_fewer_id_switches_than_sort"], bool)
    assert isinstance(claims["bytetrack_recovers_more_low_score_than_sort"], bool)
    assert res["protocol"]["frames_per_sequence"] == config.benchmark.num_frames
    assert res["protocol"]["reid"]["steps"] == config.num_steps and res["protocol"]["reid"]["num_identities"] > 4
    assert 0.0 <= res["metrics"]["reid"]["mAP"] <= 1.0
    assert (tmp_path / "table.md").read_text().count("\n") == 2 + len(summary) * len(config.trackers)
    assert (tmp_path / "frames_hardest.png").exists() and (tmp_path / "reid.msgpack").exists()
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [4, 8] and all(np.isfinite(r["loss"]) for r in rows)
    per_seq = [json.loads(line) for line in (tmp_path / "sequences.jsonl").read_text().splitlines()]
    assert len(per_seq) == len(summary) * config.benchmark.sequences_per_level * len(config.trackers)

    # Same workdir again: the finished training resumes at its last step, and every metric but the
    # timings repeats exactly.
    again = train_and_evaluate(config, str(tmp_path))["metrics"]
    assert json.loads((tmp_path / "results.json").read_text())["run"]["start_step"] == config.num_steps
    for level in summary:
        for name in summary[level]:
            for k in ("mota", "idf1", "hota", "num_switches", "low_score_recovered"):
                assert again["summary"][level][name][k] == summary[level][name][k]
    assert out["metrics"]["claims"] == again["claims"] and out["metrics"]["reid"] == again["reid"]


def test_training_separates_identities_better_than_the_untrained_network(tmp_path):
    """150 steps at tiny widths: held-out cross-camera mAP rises above the untrained network's."""
    config = get_config("tiny")
    with config.unlocked():
        config.num_steps, config.log_every, config.checkpoint_every = 150, 50, 150
        config.benchmark.levels = ("easy",)
        config.reid.train.p, config.reid.train.k = 8, 4
    m = train_and_evaluate(config, str(tmp_path))["metrics"]
    losses = [json.loads(line)["loss"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert losses[-1] < 0.8 * losses[0], losses
    assert m["reid"]["mAP"] > m["reid_untrained"]["mAP"] + 0.02, (m["reid"], m["reid_untrained"])


def test_unknown_level_is_named(tmp_path):
    config = get_config("tiny")
    with config.unlocked():
        config.benchmark.levels = ("easy", "extreme")
    with pytest.raises(ConfigError, match="extreme"):
        train_and_evaluate(config, str(tmp_path))
    assert not tmp_path.joinpath("config.json").exists()


def test_config_variants():
    assert get_config("cpu").benchmark.levels == ("easy", "medium", "hard")
    assert get_config("paper").reid.train.crop_hw == (64, 32)
    with pytest.raises(ValueError, match="unknown mot_trackers config variant"):
        get_config("huge")
