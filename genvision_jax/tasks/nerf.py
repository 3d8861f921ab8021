"""Radiance-field trainer, top to bottom: config → data → init → restore → loop → eval.

One trainer for every field of `genvision_jax.models.fields` (NeRF, Instant-NGP hash grid, TensoRF,
Plenoxels, D-NeRF) and every radiance-field study (nerf, nerf_encoding, nerf_hierarchical,
field_race, sparse_views, dnerf).

Data: the embedded `synthetic_scenes` dataset, or a local NeRF-synthetic (`blender:PATH`) or LLFF
(`llff:PATH`) folder. All training rays are built once on the host; each step draws `batch_rays`
of them uniformly (numpy generator seeded by (seed, step), so a resumed run draws the same rays)
and passes them as a global array split along 'data'.

Evaluation: every `eval.every` steps, PSNR on the first `eval.curve_views` test views, logged with
the training wall time so far (evaluation and checkpoint time excluded): the PSNR-vs-time curves of
`field_race`. At the end, PSNR and SSIM (`genvision_jax.metrics.image`) on `eval.num_views` test
views, the renders, depth maps and a turntable GIF in the workdir.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import matplotlib
import ml_collections
import numpy as np
from PIL import Image

matplotlib.use("Agg")
from matplotlib import colormaps  # noqa: E402

from genvision_jax.data import nerf_folders, scenes  # noqa: E402
from genvision_jax.data.datasets import synthetic_scenes  # noqa: E402
from genvision_jax.data.views import select_views  # noqa: E402
from genvision_jax.errors import ConfigError  # noqa: E402
from genvision_jax.metrics.image import psnr, ssim  # noqa: E402
from genvision_jax.models.fields import make_field  # noqa: E402
from genvision_jax.rendering import cameras  # noqa: E402
from genvision_jax.rendering.fields import FieldRenderer  # noqa: E402
from genvision_jax.tasks.fields import (FieldSetup, grid_regularizer, init_field_state,  # noqa: E402
                                        make_field_train_step, make_ray_renderer)
from genvision_jax.train import make_optimizer  # noqa: E402
from genvision_jax.train.run import Run  # noqa: E402
from genvision_jax.train.writers import progress  # noqa: E402

# ------------------------------------------------------------------------------------------------ data


def load_views(config: ml_collections.ConfigDict, split: str) -> dict[str, Any]:
    """The split's views as stacked numpy arrays (`genvision_jax.data.views`)."""
    d = config.dataset
    if d.name.startswith("blender:"):
        return nerf_folders.load_blender(d.name[len("blender:"):], split, white_background=d.background == "white",
                                         downscale=d.downscale or 1)
    if d.name.startswith("llff:"):  # NeRF's protocol: every 8th view held out
        return nerf_folders.load_llff(d.name[len("llff:"):], factor=d.downscale or None, split=split)
    if d.name != "synthetic_scenes":
        raise ConfigError(f"unknown dataset.name {d.name!r}; choose synthetic_scenes, blender:PATH or llff:PATH")
    return synthetic_scenes.load_split("synthetic_scenes", split, data_dir=d.data_dir or None, scene=d.scene,
                                       image_size=d.image_size, background=d.background)


def view_rays(views: dict[str, Any], i: int) -> tuple[np.ndarray, np.ndarray]:
    """(origins, directions) [H, W, 3] of view i."""
    h, w = views["images"].shape[1:3]
    fx, fy, cx, cy = (float(v) for v in views["intrinsics"][i])
    intr = cameras.Intrinsics(height=h, width=w, fx=fx, fy=fy, cx=cx, cy=cy)
    o, d = cameras.pixel_rays(jnp.asarray(views["c2w"][i]), intr)
    return np.asarray(o, np.float32), np.asarray(d, np.float32)


def all_rays(views: dict[str, Any], dynamic: bool) -> dict[str, np.ndarray]:
    """Every pixel's ray of every view, flattened: origins, directions, rgb [R, 3] (+ time [R])."""
    out = {"origins": [], "directions": [], "rgb": [], "time": []}
    for i in range(len(views["images"])):
        o, d = view_rays(views, i)
        out["origins"].append(o.reshape(-1, 3))
        out["directions"].append(d.reshape(-1, 3))
        out["rgb"].append(views["images"][i].reshape(-1, 3).astype(np.float32))
        out["time"].append(np.full(o.shape[0] * o.shape[1], views["times"][i], np.float32))
    rays = {k: np.concatenate(v) for k, v in out.items()}
    if not dynamic:
        del rays["time"]
    return rays


def time_curriculum_views(step: int, curriculum_steps: int, num_views: int, min_views: int = 3) -> int:
    """D-NeRF's time curriculum (its code's `precrop_iters_time`, 10k of 800k iterations): at training
    step `step` ≤ `curriculum_steps`, rays come only from the first max(⌊step / curriculum_steps ·
    num_views⌋, min_views) training views in order of time, so the deformation is learned from small
    times outward; after it, from every view."""
    if step >= curriculum_steps:
        return num_views
    return min(max(int(step / curriculum_steps * num_views), min_views), num_views)


class RaySampler:
    """The rays of step `step`: `batch_rays` uniform draws (numpy, seeded by (seed, step)), this process's
    slice of them; with D-NeRF's time curriculum, only from the earliest views until its end."""

    def __init__(self, config: ml_collections.ConfigDict, rays: dict[str, np.ndarray], num_views: int,
                 per_process: int, dynamic: bool):
        self.config, self.rays, self.num_views = config, rays, num_views
        self.num_rays = len(rays["rgb"])
        self.lo = jax.process_index() * per_process
        self.hi = self.lo + per_process
        self.curriculum = config.time_curriculum_steps
        if self.curriculum:
            if not dynamic:
                raise ConfigError("time_curriculum_steps > 0 needs a dynamic field (field.name = 'dnerf') and "
                                  "timed views")
            self.by_time = np.argsort(rays["time"], kind="stable")  # every view's rays stay contiguous
            self.rays_per_view = self.num_rays // num_views

    def __call__(self, step: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng([self.config.seed, step])
        n = self.config.batch_rays
        if self.curriculum and step <= self.curriculum:
            allowed = time_curriculum_views(step, self.curriculum, self.num_views) * self.rays_per_view
            idx = self.by_time[rng.integers(0, allowed, n)][self.lo:self.hi]
        else:
            idx = rng.integers(0, self.num_rays, n)[self.lo:self.hi]
        return {k: v[idx] for k, v in self.rays.items()}


# ----------------------------------------------------------------------------------------------- setup


def scene_bounds(config: ml_collections.ConfigDict, views: dict[str, Any]) -> float:
    """Half-extent of the field's box (fields give density 0 outside it): `field.bounds`, or (0) the
    scene's bounding radius for embedded scenes, 1.5 for NeRF-synthetic folders (NeRF's Blender objects
    lie within ±1.5), and for LLFF the farthest camera's distance plus the far bound (everything any
    training ray can reach before `far`)."""
    if config.field.bounds > 0:
        return float(config.field.bounds)
    if config.dataset.name == "synthetic_scenes":
        return float(np.ceil(scenes.scene_bounding_radius(config.dataset.scene) * 10) / 10)
    if config.dataset.name.startswith("blender:"):
        return 1.5
    fx, fy, cx, cy = np.asarray(views["intrinsics"], np.float64).T
    corner = np.sqrt(1.0 + (cx / fx) ** 2 + (cy / fy) ** 2).max()  # longest ray direction per unit z-depth
    return float(np.linalg.norm(views["c2w"][:, :3, 3], axis=-1).max() + float(views["far"]) * corner)


def make_setup(config: ml_collections.ConfigDict, views: dict[str, Any]) -> FieldSetup:
    """Fields, optimizer and sampling from the config (`field`, `render`, `optimizer`, `regularizer`,
    `sparse`) and the training views (near/far bounds, background, scene box)."""
    r, f = config.render, config.field
    near, far = float(views["near"]), float(views["far"])
    # The background the images are composited on; real photos without alpha (LLFF) have none: black,
    # i.e. the field must explain every pixel.
    background = (1.0, 1.0, 1.0) if views.get("background") == "white" else (0.0, 0.0, 0.0)
    try:
        kwargs = {"bounds": scene_bounds(config, views), **f.kwargs.to_dict()}
        coarse = make_field(f.name, **kwargs)
        fine = make_field(f.name, **kwargs) if r.num_fine > 0 else None
        renderer = FieldRenderer(
            coarse=coarse, fine=fine, near=float(r.near) if r.near >= 0 else near,
            far=float(r.far) if r.far > 0 else far, num_coarse=r.num_coarse, num_fine=r.num_fine,
            far_delta=r.far_delta, background=background, weight_threshold=r.weight_threshold,
            dynamic=f.name == "dnerf", occupancy_resolution=r.occupancy_resolution,
            occupancy_candidates=r.occupancy_candidates, occupancy_update_every=r.occupancy_update_every)
        tx = make_optimizer(config.optimizer.to_dict())
    except (ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"field / render / optimizer config: {e}") from None
    reg = grid_regularizer(f.name, config.regularizer.to_dict())
    return FieldSetup(
        renderer=renderer, tx=tx, regularizer=reg, regularizer_weight=1.0 if reg is not None else 0.0,
        freenerf_steps=int(config.sparse.freenerf_fraction * config.num_steps) if config.sparse.freenerf_fraction else 0,
        occlusion_weight=config.sparse.occlusion_weight, occlusion_range=config.sparse.occlusion_range,
    )


# ------------------------------------------------------------------------------------------------ main


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, mesh=None) -> dict[str, Any]:
    """Train the configured field in `workdir` (resuming from its last checkpoint) and evaluate it."""
    run = Run(config, workdir, mesh=mesh, batch_keys=("batch_rays",))
    train_views = select_views(load_views(config, "train"), config.dataset.num_train_views)
    test_views = select_views(load_views(config, "test"), config.eval.num_views)
    setup = make_setup(config, train_views)
    sample_rays = RaySampler(config, all_rays(train_views, setup.dynamic), len(train_views["images"]),
                             run.local_batch("batch_rays"), setup.dynamic)

    # ------------------------------------------------------------------ init and restore
    state = run.init(lambda rng: init_field_state(setup, rng))
    state = run.restore(state)
    train_step = make_field_train_step(setup, run.mesh)
    renderer = make_ray_renderer(setup, config.eval.chunk)
    train_time_at_start, start_step = run.train_time_s, run.start_step

    # ------------------------------------------------------------------ loop
    for step in run.steps():
        state, metrics = train_step(state, run.global_batch(sample_rays(step)), run.root)
        run.record(step, metrics)
        if run.every(step, config.eval.every):
            with run.paused(state):
                curve = evaluate(renderer, state, test_views, min(config.eval.curve_views, len(test_views["images"])),
                                 setup.dynamic)
                run.log(step, {"test_psnr": curve["psnr"], "train_time_s": run.train_time_s})
        run.checkpoint(step, state)

    # ------------------------------------------------------------------ eval
    with run.paused(state):
        final = evaluate(renderer, state, test_views, len(test_views["images"]), setup.dynamic, with_ssim=True,
                         show_progress=True)
        metrics_out = {"test_psnr": final["psnr"], "test_ssim": final["ssim"],
                       "test_psnr_per_view": final["psnr_per_view"], "train_time_s": run.train_time_s,
                       "train_steps": int(state.step),
                       "num_params": int(sum(x.size for x in jax.tree.leaves(state.params)))}
        if state.occupancy is not None:
            metrics_out["occupied_fraction"] = float(np.mean(np.asarray(state.occupancy.occupied)))
        run.log(int(state.step), {"test_psnr": final["psnr"], "test_ssim": final["ssim"],
                                  "train_time_s": run.train_time_s})
        metrics_out["render_rays_per_s"] = final["render_rays_per_s"]
        # Includes the first step's compilation; field_race's curves give the steady rate.
        metrics_out["train_rays_per_s"] = (int(state.step) - start_step) * config.batch_rays / max(
            run.train_time_s - train_time_at_start, 1e-9)
        t0 = time.time()
        if jax.process_index() == 0:
            save_renders(run.workdir, final, test_views)
            if config.eval.video_frames > 0:
                save_turntable(run.workdir / "turntable.gif", renderer, state, test_views, config)
        metrics_out["video_time_s"] = time.time() - t0
    r = setup.renderer
    h, w = test_views["images"].shape[1:3]
    protocol = {
        "dataset": config.dataset.name, "scene": config.dataset.scene, "background": config.dataset.background,
        "image_size": [int(h), int(w)], "train_views": int(len(train_views["images"])),
        "test_views": int(len(test_views["images"])), "steps": int(state.step), "batch_rays": config.batch_rays,
        "samples_per_ray": {"coarse": r.num_coarse, "fine": r.num_fine}, "near_far": [r.near, r.far],
        "psnr": "mean over test views of per-view PSNR, images in [0, 1], linear RGB composited on the background",
        "ssim": "genvision_jax.metrics.image.ssim, 11x11 Gaussian window σ 1.5, RGB", "seed": config.seed,
        "train_time": "training steps only (evaluation and checkpoints excluded)",
    }
    return run.finish(metrics_out, protocol, state=state, setup=setup)


def evaluate(renderer, state, views: dict[str, Any], num: int, dynamic: bool, with_ssim: bool = False,
             show_progress: bool = False) -> dict:
    """Render the first `num` views deterministically with the state's fields (FreeNeRF masks of its step,
    its occupancy grid): mean PSNR (and SSIM), renders and depths."""
    rgbs, depths, accs, seconds = [], [], [], []
    for i in progress(range(num), desc="render test views") if show_progress else range(num):
        o, d = view_rays(views, i)
        t0 = time.time()
        out = jax.block_until_ready(renderer(state.params, o, d, float(views["times"][i]) if dynamic else None,
                                             state.step, state.occupancy))
        seconds.append(time.time() - t0)
        rgbs.append(np.clip(np.asarray(out["rgb"]), 0.0, 1.0))
        depths.append(np.asarray(out["depth"]))
        accs.append(np.asarray(out["acc"]))
    # Rendering speed without the first view, which may include compilation.
    timed = slice(1, None) if num > 1 else slice(None)
    rays_per_s = sum(r.shape[0] * r.shape[1] for r in rgbs[timed]) / max(sum(seconds[timed]), 1e-9)
    pred, gt = np.stack(rgbs), views["images"][:num].astype(np.float32)
    values = np.asarray(psnr(pred, gt))
    out = {"psnr": float(values.mean()), "psnr_per_view": values.tolist(), "rgb": rgbs, "depth": depths,
           "acc": accs, "render_rays_per_s": rays_per_s}
    if with_ssim:
        out["ssim"] = float(np.asarray(ssim(pred, gt)).mean())
    return out


def depth_image(depth: np.ndarray, near: float, far: float) -> np.ndarray:
    """Depth [H, W] → uint8 RGB [H, W, 3] with the turbo colormap over [near, far] (near = red end)."""
    x = np.clip((depth - near) / max(far - near, 1e-9), 0.0, 1.0)
    return (colormaps["turbo"](1.0 - x)[..., :3] * 255).astype(np.uint8)


def _u8(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def save_renders(workdir: Path, final: dict, views: dict) -> None:
    """renders/view_XXX.png: ground truth | render | depth (GT depth | rendered depth when the data has it)."""
    out_dir = workdir / "renders"
    out_dir.mkdir(exist_ok=True)
    near, far = float(views["near"]), float(views["far"])
    for i, (rgb, depth) in enumerate(zip(final["rgb"], final["depth"])):
        panels = [_u8(views["images"][i]), _u8(rgb), depth_image(depth, near, far)]
        if "depths" in views:
            panels.insert(2, depth_image(np.where(views["alphas"][i] > 0, views["depths"][i], far), near, far))
        Image.fromarray(np.concatenate(panels, axis=1)).save(out_dir / f"view_{i:03d}.png")


def save_turntable(path: Path, renderer, state, views: dict, config) -> None:
    """A turntable GIF around the scene at the test cameras' mean distance and elevation."""
    c2w = views["c2w"][:, :3, :]
    positions = c2w[:, :, 3]
    radius = float(np.linalg.norm(positions, axis=-1).mean())
    elevation = float(np.degrees(np.arcsin(np.clip(positions[:, 2] / np.linalg.norm(positions, axis=-1), -1, 1))).mean())
    poses = np.asarray(cameras.turntable_poses(config.eval.video_frames, radius, elevation))
    h, w = views["images"].shape[1:3]
    fx, fy, cx, cy = (float(v) for v in views["intrinsics"][0])
    intr = cameras.Intrinsics(height=h, width=w, fx=fx, fy=fy, cx=cx, cy=cy)
    frames = []
    for k, pose in enumerate(progress(poses, desc="turntable")):
        o, d = cameras.pixel_rays(jnp.asarray(pose), intr)
        t = k / max(len(poses) - 1, 1)
        out = renderer(state.params, np.asarray(o), np.asarray(d), t if config.field.name == "dnerf" else None,
                       state.step, state.occupancy)
        frames.append(Image.fromarray(_u8(np.asarray(out["rgb"]))))
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=80, loop=0)
