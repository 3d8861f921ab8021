"""Position encoding ablation (NeRF, Mildenhall et al. 2020, Table 4 direction; Instant-NGP's hash).

The NeRF MLP with its position input encoded as: nothing (normalized xyz), Fourier features with
L ∈ {2, 4, 6, 10} log-spaced frequencies (γ(p) with the input included), or Instant-NGP's multiresolution
hash encoding (Müller et al. 2022) — at a fixed step budget, coarse-only sampling, everything else
equal. View directions keep their L = 4 Fourier encoding in every variant. The hash variant trains with
Instant-NGP's learning rate 1e-2 (its tables barely move at an MLP rate).

Variants: tiny (CI smoke), cpu (README table: `spheres` 64x64, 1,000 steps of 512 rays x 48 samples,
4 x 64 MLP), paper (NeRF's 8 x 256 recipe on a Blender folder, 64 + 128 samples).

  python -m experiments.sweep --config experiments/nerf_encoding/configs/default.py:cpu --workdir DIR --seeds 0
"""

import ml_collections

from experiments.nerf.configs.default import FIELD_LR, study_config

ENCODINGS = {
    "none": {"encoder": "none"},
    "fourier_L2": {"encoder": "fourier", "pos_freqs": 2},
    "fourier_L4": {"encoder": "fourier", "pos_freqs": 4},
    "fourier_L6": {"encoder": "fourier", "pos_freqs": 6},
    "fourier_L10": {"encoder": "fourier", "pos_freqs": 10},
    # Instant-NGP's encoding in front of the same MLP; table 2^15 at CPU scale (paper 2^19).
    "hash": {"encoder": "hash", "hash_levels": 16, "hash_features": 2, "hash_log2_size": 15, "hash_min_res": 16,
             "hash_max_res": 512},
}


def get_config(variant: str = "cpu") -> ml_collections.ConfigDict:
    return study_config(variant, cpu_steps=1000, coarse_only=48)


def get_sweep(variant: str = "cpu") -> list[dict]:
    sweep, base = [], get_config(variant).field.kwargs.to_dict()
    for name, options in ENCODINGS.items():
        if variant == "tiny" and name == "hash":
            options = {**options, "hash_levels": 2, "hash_log2_size": 8, "hash_max_res": 32}
        over = {"field.kwargs": {**base, **options}}
        if name == "hash":
            over["optimizer.learning_rate"] = FIELD_LR["instant_ngp"]
        sweep.append({"name": name, "labels": {"encoding": name, "scene": "spheres" if variant != "paper" else "lego"},
                      "overrides": over})
    return sweep


TABLE = {"metrics": ["test_psnr", "test_ssim", "num_params", "train_time_s"], "rows": "encoding", "cols": "scene",
         "curves": ["test_psnr"], "curves_yscale": "linear",
         "digits": {"test_psnr": 2, "test_ssim": 3, "num_params": 0, "train_time_s": 0}}

# Figures of the radiance-field studies (experiments.sweep calls its plot_sweep).
REPORT = "experiments.nerf.report"
