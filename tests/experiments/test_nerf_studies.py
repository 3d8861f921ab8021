"""The five radiance-field studies: every config's tiny sweep end to end, their sweeps' contents, the
field race's time-to-PSNR summary. `make test` trains one variant of the two largest tiny sweeps
(nerf_encoding's hash grid, dnerf's time curriculum; the other variants' fields and options are trained
by the other studies and tests); `make test-full` (GENVISION_TEST_FULL=1) trains every variant."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from experiments import sweep
from experiments.field_race.report import race_summary

REPO = Path(__file__).resolve().parents[2]
STUDIES = {"nerf_encoding": 6, "nerf_hierarchical": 2, "field_race": 4, "sparse_views": 4, "dnerf": 4}
FULL = os.environ.get("GENVISION_TEST_FULL") == "1"
ONLY = {} if FULL else {"nerf_encoding": "hash", "dnerf": "dnerf_curriculum"}  # --only substrings


@pytest.mark.parametrize("study", sorted(STUDIES))
def test_tiny_sweep_trains_every_variant_and_writes_tables_and_figures(tmp_path, study):
    config_path = str(REPO / "experiments" / study / "configs" / "default.py") + ":tiny"
    report = sweep.run_sweep(config_path, str(tmp_path), only=ONLY.get(study, ""), seeds=[0])
    assert len(report["runs"]) == (1 if study in ONLY else STUDIES[study])
    for run in report["runs"]:
        assert not run["failed"] and not run["missing"], run["name"]
        assert run["test_psnr"]["n"] == 1 and 0.0 < run["test_psnr"]["mean"] < 60.0
        res = json.loads((tmp_path / run["name"] / "seed0" / "results.json").read_text())
        assert res["protocol"]["image_size"] == [16, 16] and res["protocol"]["steps"] == 4
    assert (tmp_path / "table.md").exists() and (tmp_path / "renders.png").exists()
    assert (tmp_path / "psnr_vs_time.png").exists()
    if study == "field_race":  # each field with its own recipe
        runs = {r["name"]: json.loads((tmp_path / r["name"] / "seed0" / "results.json").read_text())
                for r in report["runs"]}
        assert 0.0 < runs["instant_ngp"]["metrics"]["occupied_fraction"] <= 1.0
        assert runs["nerf"]["protocol"]["samples_per_ray"] == {"coarse": 8, "fine": 8}
        assert runs["tensorf"]["config"]["regularizer"]["l1"] > 0
        race = json.loads((tmp_path / "race.json").read_text())
        assert race["reference"]["field"] == "nerf" and set(race["fields"]) == set(runs)
        assert race["fields"]["nerf"]["time_ratio_to_reference"] == pytest.approx(1.0)
    if study == "sparse_views":
        res = json.loads((tmp_path / "views03" / "freenerf" / "seed0" / "results.json").read_text())
        assert res["protocol"]["train_views"] == 3 and res["config"]["sparse"]["freenerf_fraction"] == 0.9
    if study == "dnerf":
        res = json.loads((tmp_path / "dnerf_curriculum" / "seed0" / "results.json").read_text())
        assert res["protocol"]["scene"] == "dynamic" and res["config"]["field"]["name"] == "dnerf"
        assert res["config"]["time_curriculum_steps"] == 2
        motion = json.loads((tmp_path / "motion.json").read_text())
        assert set(motion) == {r["name"] for r in report["runs"]}
        assert all(0.0 < m["moving_fraction"] < 1.0 and np.isfinite(m["psnr_moving"]) for m in motion.values())


@pytest.mark.parametrize("study", sorted(STUDIES))
def test_cpu_and_paper_sweeps_apply(study):
    config_path = str(REPO / "experiments" / study / "configs" / "default.py")
    _, module, _ = sweep.load_config_module(config_path + ":cpu")
    for variant in ("cpu", "paper"):
        base = module.get_config(variant)
        for entry in module.get_sweep(variant):
            config = sweep.apply_overrides(base, entry["overrides"])
            assert config.optimizer.decay_steps == config.num_steps, entry["name"]
    if study == "nerf_hierarchical":  # equal network evaluations per ray
        cpu = {e["name"]: sweep.apply_overrides(module.get_config("cpu"), e["overrides"]).render
               for e in module.get_sweep("cpu")}
        assert {r.num_coarse + (r.num_coarse + r.num_fine if r.num_fine else 0) for r in cpu.values()} == {96}


def _write_curve(run_dir: Path, points):
    run_dir.mkdir(parents=True)
    rows = [{"step": s, "test_psnr": p, "train_time_s": t} for t, p, s in points]
    rows.append({"step": points[-1][2], "test_psnr": 99.0, "test_ssim": 0.9, "train_time_s": points[-1][0]})
    (run_dir / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows))


def test_race_summary_times_each_field_to_nerfs_final_psnr(tmp_path):
    _write_curve(tmp_path / "nerf", [(10.0, 15.0, 100), (20.0, 18.0, 200), (40.0, 20.0, 400)])
    _write_curve(tmp_path / "fast", [(1.0, 17.0, 25), (3.0, 20.5, 50), (5.0, 22.0, 75)])
    _write_curve(tmp_path / "slow", [(30.0, 12.0, 25), (60.0, 19.9, 50)])
    runs = [{"name": n, "dirs": [str(tmp_path / n)]} for n in ("nerf", "fast", "slow")]
    s = race_summary(runs)
    assert s["reference"]["final_curve_psnr"] == 20.0 and s["reference"]["train_time_s"] == 40.0  # not the final 99
    assert s["fields"]["fast"]["time_to_reference_psnr_s"] == 3.0
    assert s["fields"]["fast"]["time_ratio_to_reference"] == pytest.approx(3.0 / 40.0)
    assert s["fields"]["slow"]["time_to_reference_psnr_s"] is None
    assert np.isclose(s["fields"]["nerf"]["time_ratio_to_reference"], 1.0)
    # time to fixed PSNRs and to each field's final one, ascending
    rows = {r["label"]: r["times"] for r in s["thresholds"]}
    assert [r["psnr"] for r in s["thresholds"]] == sorted(r["psnr"] for r in s["thresholds"])
    assert rows["18 dB"]["nerf"] == {"time_s": 20.0, "step": 200} and rows["18 dB"]["fast"]["time_s"] == 3.0
    assert rows["18 dB"]["slow"]["time_s"] == 60.0 and rows["20 dB"]["slow"] is None
    assert rows["22.00 dB (fast's final)"]["fast"]["time_s"] == 5.0 and rows["22 dB"]["nerf"] is None


def test_motion_masks_and_psnr_split_moving_from_static_pixels(tmp_path):
    from PIL import Image

    from experiments.dnerf.report import motion_masks, motion_psnr
    from genvision_jax.data.datasets import synthetic_scenes

    views = synthetic_scenes.load_split("synthetic_scenes", "test", scene="dynamic", image_size=16,
                                        background="white")
    views = {k: (v[:3] if isinstance(v, np.ndarray) and v.ndim and len(v) == 20 else v) for k, v in views.items()}
    masks = motion_masks("dynamic", views, num_times=5)
    assert masks.shape == (3, 16, 16) and 0.02 < masks.mean() < 0.8  # the ball and the box move, the floor not
    assert not motion_masks("spheres", views, num_times=3).any()  # a static scene has no moving pixel
    # A "render" exact on static pixels and inverted on moving ones.
    gt = np.asarray(views["images"])
    pred = np.where(masks[..., None], 1.0 - gt, gt)
    (tmp_path / "renders").mkdir()
    for i in range(3):
        u8 = lambda x: np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)  # noqa: E731
        Image.fromarray(np.concatenate([u8(gt[i]), u8(pred[i]), u8(gt[i])], axis=1)).save(
            tmp_path / "renders" / f"view_{i:03d}.png")
    m = motion_psnr(tmp_path, masks, views)
    assert m["psnr_static"] > 50.0  # only 8-bit rounding left
    expected = -10 * np.log10(np.mean((1.0 - 2.0 * gt[masks]) ** 2))
    assert m["psnr_moving"] == pytest.approx(expected, abs=0.05)
    assert m["moving_fraction"] == pytest.approx(masks.mean())


def test_time_curriculum_widens_from_the_earliest_views_to_all():
    from genvision_jax.tasks.nerf import time_curriculum_views

    counts = [time_curriculum_views(s, 100, 50) for s in range(1, 121)]
    assert counts[0] == 3 and counts[5] == 3  # at least 3 views at the start (D-NeRF's code)
    assert counts[49] == 25 and counts[98] == 49  # linear in the step
    assert all(c == 50 for c in counts[99:])  # every view from the curriculum's end on
    assert all(a <= b for a, b in zip(counts, counts[1:]))
    assert time_curriculum_views(1, 100, 2) == 2  # never more views than there are
