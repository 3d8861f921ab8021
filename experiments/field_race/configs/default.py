"""Field race: NeRF vs Instant-NGP hash grid vs TensoRF vs Plenoxels on one scene, on this machine.

Each field trains with its own recipe (`experiments/nerf/configs/default.py`: FIELD_PRESETS,
FIELD_RENDER, FIELD_LR, FIELD_LR_MULTIPLIERS, FIELD_REGULARIZER): NeRF 4 x 64 with 32 + 32 samples at
lr 5e-3; the hash grid with its occupancy grid and 32 samples on occupied space at 1e-2; TensoRF VM at
64^3 (factors 2e-2, basis and colour MLP 1e-3, colour only where the sample weight exceeds 1e-3) and
Plenoxels at 64^3 (1e-1), both with 64 evenly spaced samples. Same scene, image size, ray batch and
test views.
Every `eval.every` steps the PSNR on the first 4 test views is logged with the training wall time so
far (evaluations excluded): the PSNR-vs-time curves. `plot_sweep` (experiments/field_race/train.py)
draws them and measures how long each grid field takes to reach NeRF's final curve PSNR.

Variants: tiny (CI smoke), cpu (README: `spheres` 64x64; NeRF 1,500 steps, Instant-NGP 1,000, the other grids 500), paper (each
field's paper sizes and sample counts on a Blender folder: 30k steps for the grids, as TensoRF and
Instant-NGP report, NeRF's 250k).

  python -m experiments.sweep --config experiments/field_race/configs/default.py:cpu --workdir DIR --seeds 0
"""

import ml_collections

from experiments.nerf.configs.default import field_preset, study_config

FIELDS = ("nerf", "instant_ngp", "tensorf", "plenoxels")
STEPS = {"tiny": {f: 4 for f in FIELDS},
         "cpu": {"nerf": 1500, "instant_ngp": 1000, "tensorf": 500, "plenoxels": 500},
         "paper": {"nerf": 250_000, "instant_ngp": 30_000, "tensorf": 30_000, "plenoxels": 30_000}}
EVAL_EVERY = {"tiny": {f: 2 for f in FIELDS},
              "cpu": {"nerf": 100, "instant_ngp": 25, "tensorf": 25, "plenoxels": 25},
              "paper": {"nerf": 10_000, "instant_ngp": 1000, "tensorf": 1000, "plenoxels": 1000}}


def get_config(variant: str = "cpu") -> ml_collections.ConfigDict:
    c = study_config(variant, video_frames=12)
    if variant == "cpu":
        c.eval.curve_views = 4
    return c


def get_sweep(variant: str = "cpu") -> list[dict]:
    if variant not in STEPS:
        raise ValueError(f"unknown variant {variant!r}; choose tiny, cpu or paper")
    sweep = []
    for field in FIELDS:
        c = field_preset(get_config(variant), field, variant)
        over = {"field.name": field, "field.kwargs": c.field.kwargs.to_dict(),
                "optimizer.learning_rate": c.optimizer.learning_rate,
                "optimizer.lr_multipliers": c.optimizer.lr_multipliers.to_dict(), "regularizer": c.regularizer.to_dict(),
                "render": c.render.to_dict(), "num_steps": STEPS[variant][field],
                "optimizer.decay_steps": STEPS[variant][field], "eval.every": EVAL_EVERY[variant][field]}
        sweep.append({"name": field, "labels": {"field": field, "scene": c.dataset.scene}, "overrides": over})
    return sweep


TABLE = {"metrics": ["test_psnr", "test_ssim", "train_time_s", "train_rays_per_s", "render_rays_per_s", "num_params"],
         "rows": "field", "cols": "scene",
         "digits": {"test_psnr": 2, "test_ssim": 3, "train_time_s": 0, "train_rays_per_s": 0,
                    "render_rays_per_s": 0, "num_params": 0}}
