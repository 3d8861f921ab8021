"""The tracker study at `tiny` scale: outputs and protocol, the claims block, resume reuses the trained ReID."""

import json

import numpy as np
import pytest

from experiments.mot_trackers.configs.default import get_config
from experiments.mot_trackers.study import run_study


def test_tiny_study_writes_results_and_resumes(tmp_path):
    config = get_config("tiny")
    logs = []
    out = run_study(config, str(tmp_path), log=logs.append)
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
    assert res["protocol"]["reid"]["info"]["source"] == "trained"
    assert 0.0 <= res["metrics"]["reid"]["mAP"] <= 1.0
    assert (tmp_path / "table.md").read_text().count("\n") == 2 + len(summary) * len(config.trackers)
    assert (tmp_path / "frames_hardest.png").exists() and (tmp_path / "reid.msgpack").exists()
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [4, 8] and all(np.isfinite(r["loss"]) for r in rows)
    per_seq = [json.loads(line) for line in (tmp_path / "sequences.jsonl").read_text().splitlines()]
    assert len(per_seq) == len(summary) * config.benchmark.sequences_per_level * len(config.trackers)

    # Same workdir again: the finished ReID is reused, and every metric but the timings repeats exactly.
    again = run_study(config, str(tmp_path), log=logs.append)
    res2 = json.loads((tmp_path / "results.json").read_text())
    assert res2["protocol"]["reid"]["info"]["source"] == "trained earlier in this workdir"
    for level in summary:
        for name in summary[level]:
            for k in ("mota", "idf1", "hota", "num_switches", "low_score_recovered"):
                assert again["summary"][level][name][k] == summary[level][name][k]
    assert out["claims"] == again["claims"]


def test_unknown_level_is_named(tmp_path):
    config = get_config("tiny")
    with config.unlocked():
        config.benchmark.levels = ("easy", "extreme")
    with pytest.raises(ValueError, match="extreme"):
        run_study(config, str(tmp_path))


def test_config_variants():
    assert get_config("cpu").benchmark.levels == ("easy", "medium", "hard")
    assert get_config("paper").reid.train.crop_hw == (64, 32)
    with pytest.raises(ValueError, match="unknown mot_trackers config variant"):
        get_config("huge")
