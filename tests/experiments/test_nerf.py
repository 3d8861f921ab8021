"""End-to-end radiance-field runs: every field's tiny run, outputs and protocol, resume, config errors."""

import json

import numpy as np
import pytest
from PIL import Image

from experiments.nerf.configs.default import get_config
from genvision_jax.errors import ConfigError
from genvision_jax.tasks.nerf import train_and_evaluate


def test_tiny_nerf_writes_renders_curves_results_and_resumes(tmp_path, capsys):
    config = get_config("tiny")
    out = train_and_evaluate(config, str(tmp_path))
    m = out["metrics"]
    assert m["train_steps"] == 4 and np.isfinite(m["test_psnr"]) and len(m["test_psnr_per_view"]) == 2
    assert m["test_psnr"] == pytest.approx(np.mean(m["test_psnr_per_view"]))
    res = json.loads((tmp_path / "results.json").read_text())
    p = res["protocol"]
    assert p["image_size"] == [16, 16] and p["train_views"] == 100 and p["test_views"] == 2
    assert p["background"] == "white" and p["samples_per_ray"] == {"coarse": 8, "fine": 8}
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    curve = [r for r in rows if "test_psnr" in r and "train_time_s" in r]
    assert [r["step"] for r in curve][:2] == [2, 4] and curve[1]["train_time_s"] >= curve[0]["train_time_s"] > 0
    view = np.asarray(Image.open(tmp_path / "renders" / "view_000.png"))
    assert view.shape == (16, 16 * 4, 3)  # GT | render | GT depth | depth
    assert Image.open(tmp_path / "turntable.gif").n_frames == 2
    # Training longer in the same workdir resumes from the step-4 checkpoint (a changed config: allowed).
    config.num_steps = 6
    config.allow_config_change = True
    capsys.readouterr()
    train_and_evaluate(config, str(tmp_path))
    assert "resuming from step 4" in capsys.readouterr().out
    assert json.loads((tmp_path / "results.json").read_text())["metrics"]["train_steps"] == 6


def test_config_errors_name_the_problem(tmp_path):
    config = get_config("tiny")
    config.dataset.name = "blender"
    with pytest.raises(ConfigError, match="unknown dataset.name 'blender'"):
        train_and_evaluate(config, str(tmp_path / "a"))
    config = get_config("tiny")
    config.dataset.num_train_views = 1000
    with pytest.raises(ConfigError, match="asked for 1000 views but the split has 100"):
        train_and_evaluate(config, str(tmp_path / "b"))
    config = get_config("tiny")
    config.regularizer.l1 = 1.0
    with pytest.raises(ConfigError, match=r"\['l1'\] do not apply to field 'nerf'"):
        train_and_evaluate(config, str(tmp_path / "c"))


def _write_blender_scene(folder, size=16):
    """A NeRF-synthetic folder rendered from the embedded `spheres` scene: 4 train and 2 test RGBA views."""
    import os

    from genvision_jax.data import scenes
    from genvision_jax.rendering import cameras

    intr = cameras.Intrinsics.from_fov(size, size, 0.8)
    for split, azimuths in (("train", (0, 90, 180, 270)), ("test", (45, 225))):
        os.makedirs(folder / split, exist_ok=True)
        frames = []
        for i, az in enumerate(azimuths):
            c2w = np.asarray(cameras.to_homogeneous(cameras.orbit_poses(az, 30.0, 4.0)))
            view = scenes.render_view("spheres", c2w, intr, background="black")
            rgba = np.concatenate([view["rgb"], view["alpha"][..., None]], -1)
            Image.fromarray((rgba * 255 + 0.5).astype(np.uint8), "RGBA").save(folder / split / f"r_{i}.png")
            frames.append({"file_path": f"./{split}/r_{i}", "transform_matrix": c2w.tolist()})
        (folder / f"transforms_{split}.json").write_text(json.dumps({"camera_angle_x": 0.8, "frames": frames}))


def test_tiny_run_on_a_blender_folder(tmp_path):
    _write_blender_scene(tmp_path / "scene")
    config = get_config("tiny")
    config.dataset.name = f"blender:{tmp_path / 'scene'}"
    config.eval.num_views = 0
    m = train_and_evaluate(config, str(tmp_path / "run"))["metrics"]
    p = json.loads((tmp_path / "run" / "results.json").read_text())["protocol"]
    assert p["train_views"] == 4 and p["test_views"] == 2 and p["near_far"] == [2.0, 6.0]
    assert np.isfinite(m["test_psnr"]) and len(m["test_psnr_per_view"]) == 2
