"""The dnerf study's report (its runs train with the radiance-field trainer, genvision_jax.tasks.nerf):
besides the radiance-field figures, the PSNR split into moving and static pixels (`motion_psnr`):
D-NeRF's claim is about the moving objects, which cover a small part of each image."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from experiments.nerf import report as nerf_report
from genvision_jax.data import scenes
from genvision_jax.data.datasets import synthetic_scenes
from genvision_jax.data.views import select_views
from genvision_jax.metrics.image import psnr_from_mse
from genvision_jax.rendering import cameras

MOTION_TIMES = 11        # the scene is rendered at t = 0, 0.1, ..., 1 from each test camera
MOTION_THRESHOLD = 0.05  # a pixel is "moving" when any channel varies by more than this over those times


def motion_masks(scene: str, views: dict, num_times: int = MOTION_TIMES,
                 threshold: float = MOTION_THRESHOLD) -> np.ndarray:
    """bool [N, H, W]: the pixels of each view whose ground-truth colour changes with time, i.e. where a
    moving object passes at some t ∈ [0, 1] as seen from that view's camera (where a static model must
    average over time). Rendered with the scene's analytic ray tracer on the views' cameras."""
    n, h, w = views["images"].shape[:3]
    background = "white" if views.get("background") == "white" else "black"
    masks = np.zeros((n, h, w), bool)
    for i in range(n):
        fx, fy, cx, cy = (float(v) for v in views["intrinsics"][i])
        intr = cameras.Intrinsics(height=h, width=w, fx=fx, fy=fy, cx=cx, cy=cy)
        frames = np.stack([scenes.render_view(scene, views["c2w"][i], intr, float(t), background)["rgb"]
                           for t in np.linspace(0.0, 1.0, num_times)])
        masks[i] = (frames.max(axis=0) - frames.min(axis=0)).max(axis=-1) > threshold
    return masks


def _psnr(pred: np.ndarray, target: np.ndarray) -> float:
    return float(psnr_from_mse(max(float(np.mean((pred - target) ** 2)), 1e-12)))


def motion_psnr(run_dir: str | Path, masks: np.ndarray, views: dict) -> dict[str, float]:
    """PSNR of a finished run's test renders (renders/view_XXX.png, 8-bit) over the moving pixels, the
    static pixels and all pixels, each pooled over the test views (one MSE over all selected pixels)."""
    n, h, w = views["images"].shape[:3]
    preds = []
    for i in range(n):
        panel = np.asarray(Image.open(Path(run_dir) / "renders" / f"view_{i:03d}.png").convert("RGB"))
        if panel.shape[0] != h or panel.shape[1] < 2 * w:
            raise ValueError(f"{run_dir}: renders/view_{i:03d}.png is {panel.shape}, expected [{h}, ≥{2 * w}, 3]")
        preds.append(panel[:, w:2 * w].astype(np.float32) / 255.0)
    pred, gt = np.stack(preds), np.asarray(views["images"], np.float32)
    return {"psnr_moving": _psnr(pred[masks], gt[masks]), "psnr_static": _psnr(pred[~masks], gt[~masks]),
            "psnr_all": _psnr(pred, gt), "moving_fraction": float(masks.mean())}


def plot_sweep(runs: list[dict], out_dir) -> None:
    """The studies' renders.png and psnr_vs_time.png, plus motion.json / motion.md: each run's PSNR on
    moving and static pixels (`motion_psnr`) of the test views."""
    nerf_report.plot_sweep(runs, out_dir)
    done = [r for r in runs if (Path(r["dirs"][0]) / "results.json").exists()]
    if not done:
        return
    config = json.loads((Path(done[0]["dirs"][0]) / "config.json").read_text())
    d = config["dataset"]
    if d["name"] != "synthetic_scenes":
        return  # the motion masks need the analytic scene
    views = synthetic_scenes.load_split("synthetic_scenes", "test", data_dir=d["data_dir"] or None, scene=d["scene"],
                              image_size=d["image_size"], background=d["background"])
    # The final evaluation rendered the first `test_views` views (eval.num_views).
    num = json.loads((Path(done[0]["dirs"][0]) / "results.json").read_text())["protocol"]["test_views"]
    views = select_views(views, num)
    masks = motion_masks(d["scene"], views)
    rows = {r["name"]: {**motion_psnr(r["dirs"][0], masks, views), "run": str(r["dirs"][0])} for r in done}
    out_dir = Path(out_dir)
    (out_dir / "motion.json").write_text(json.dumps(rows, indent=2))
    lines = [f"PSNR over the {len(views['images'])} test views, split by pixels whose ground truth changes "
             f"over t ∈ [0, 1] ({masks.mean():.1%} of pixels), renders read back from 8-bit PNGs.", "",
             "| model | moving pixels | static pixels | all pixels |", "|---|---|---|---|"]
    lines += [f"| {k} | {v['psnr_moving']:.2f} | {v['psnr_static']:.2f} | {v['psnr_all']:.2f} |" for k, v in rows.items()]
    (out_dir / "motion.md").write_text("\n".join(lines) + "\n")


__all__ = ["motion_masks", "motion_psnr", "plot_sweep"]
