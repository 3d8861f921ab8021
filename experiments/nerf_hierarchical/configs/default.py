"""Hierarchical sampling ablation (NeRF, Mildenhall et al. 2020, §5.2 and Table 4 "No hierarchical").

Coarse-only sampling against coarse + fine at an equal number of network evaluations per ray: the
coarse-only model evaluates S = N_c + (N_c + N_f) evenly spaced samples with one network; the
hierarchical model evaluates N_c stratified samples with the coarse network and the N_c + N_f merged
samples (N_f drawn from the coarse weights by inverse CDF) with the fine one. As in the paper the
hierarchical model has two networks (twice the parameters).

Variants: tiny (CI smoke), cpu (README table: `spheres` 64x64, 600 steps of 512 rays, 4 x 64 MLPs,
32 + 32 vs 96 samples), paper (64 + 128 vs 256, NeRF's 8 x 256 recipe on a Blender folder).

  python -m experiments.sweep --config experiments/nerf_hierarchical/configs/default.py:cpu --workdir DIR --seeds 0
"""

import ml_collections

from experiments.nerf.configs.default import study_config


def get_config(variant: str = "cpu") -> ml_collections.ConfigDict:
    return study_config(variant, cpu_steps=600)


def get_sweep(variant: str = "cpu") -> list[dict]:
    r = get_config(variant).render
    evaluations = 2 * r.num_coarse + r.num_fine
    return [
        {"name": f"coarse_only_{evaluations}", "labels": {"sampling": "coarse only", "evaluations": evaluations},
         "overrides": {"render.num_coarse": evaluations, "render.num_fine": 0}},
        {"name": f"coarse{r.num_coarse}_fine{r.num_fine}",
         "labels": {"sampling": f"coarse {r.num_coarse} + fine {r.num_fine}", "evaluations": evaluations},
         "overrides": {}},
    ]


TABLE = {"metrics": ["test_psnr", "test_ssim", "train_time_s", "num_params"], "rows": "sampling",
         "cols": "evaluations", "curves": ["test_psnr"], "curves_yscale": "linear",
         "digits": {"test_psnr": 2, "test_ssim": 3, "train_time_s": 0, "num_params": 0}}

# Figures of the radiance-field studies (experiments.sweep calls its plot_sweep).
REPORT = "experiments.nerf.report"
