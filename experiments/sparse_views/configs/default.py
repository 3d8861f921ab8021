"""Sparse views: test PSNR vs the number of training views, with and without a few-shot regularizer.

NeRF trained on the first k ∈ {3, 6, 12, 25, 50} training views of the scene (a fixed camera order, so
the k views of a smaller set are among those of a larger one), plain or with FreeNeRF (Yang et al.
2023): the position encoding's frequencies are revealed linearly over the first 90 % of training
(§4.1, T = 90 %) and the occlusion loss (weight 0.01, the first 10 samples of each ray, §4.2)
penalizes density right in front of the cameras. Same step budget for every k.

Variants: tiny (CI smoke), cpu (README table: `spheres` 64x64, 1,000 steps of 512 rays, 4 x 64 NeRF,
48 coarse samples), paper (NeRF's 8 x 256 recipe on a Blender folder, FreeNeRF's 8-view setting among k).

  python -m experiments.sweep --config experiments/sparse_views/configs/default.py:cpu --workdir DIR --seeds 0
"""

import ml_collections

from experiments.nerf.configs.default import study_config

VIEWS = (3, 6, 12, 25, 50)
REGULARIZERS = {"none": {}, "freenerf": {"sparse.freenerf_fraction": 0.9, "sparse.occlusion_weight": 0.01,
                                        "sparse.occlusion_range": 10}}


def get_config(variant: str = "cpu") -> ml_collections.ConfigDict:
    return study_config(variant, cpu_steps=1000, coarse_only=48)


def get_sweep(variant: str = "cpu") -> list[dict]:
    views = (3, 6) if variant == "tiny" else VIEWS
    return [{"name": f"views{k:02d}/{reg}", "labels": {"views": k, "regularizer": reg},
             "overrides": {"dataset.num_train_views": k, **over}}
            for k in views for reg, over in REGULARIZERS.items()]


TABLE = {"metrics": ["test_psnr", "test_ssim"], "rows": "views", "cols": "regularizer",
         "digits": {"test_psnr": 2, "test_ssim": 3}}

# Figures of the radiance-field studies (experiments.sweep calls its plot_sweep).
REPORT = "experiments.nerf.report"
