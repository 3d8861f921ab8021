"""Truncation ψ: FID, precision and recall of the StyleGAN 2 EMA generator at ψ ∈ {0, 0.3, 0.5, 0.7, 1, 1.1, 1.5}
(Karras et al. 2019 §5.1 / App. B; w' = w_avg + ψ (w − w_avg), w_avg the EMA of the mapping's outputs kept
during training). Paper (FFHQ, StyleGAN 2): FID lowest at ψ = 1 (2.84) and higher both ways (0.7: 3.5, 0.5:
4.5, 1.5: 5.0); precision rises and recall falls as ψ drops (Kynkäänniemi et al. 2019 Fig. 7).

One training run (the StyleGAN 2 cpu config, config E) evaluated at every ψ on the same latents.
Variants: tiny, cpu, paper (FFHQ-256 recipe). Usage:
  python -m experiments.sweep --config experiments/truncation/configs/default.py:cpu --workdir DIR --seeds 0
"""

import ml_collections

from experiments.stylegan.configs.default import get_config as stylegan_config

PSIS = (0.0, 0.3, 0.5, 0.7, 1.0, 1.1, 1.5)
BASE = {"tiny": "tiny", "cpu": "cpu", "paper": "paper_ffhq256"}


def get_config(variant: str = "cpu") -> ml_collections.ConfigDict:
    if variant not in BASE:
        raise ValueError(f"unknown variant {variant!r}; choose {', '.join(BASE)}")
    c = stylegan_config(BASE[variant])
    c.eval.truncation_psis = PSIS
    if variant == "cpu":
        c.num_steps = 1500  # one run on one core in about 60 min with its evaluations (48k images)
    return c


def get_sweep(variant: str = "cpu") -> list[dict]:
    return [{"name": "stylegan2", "labels": {"model": "StyleGAN 2 (config E)", "data": "synthetic_faces 32px"},
             "overrides": {}}]


TABLE = {"metrics": [f"{m}_psi{p:g}" for p in PSIS for m in ("fid", "precision", "recall")]
         + ["fid_initial", "fid_final", "fid_final_ema", "kid_final_ema", "precision_final_ema", "recall_final_ema",
            "fid_inception_initial", "fid_inception_final_ema", "kid_inception_final_ema", "ppl_w_end",
            "fid_real_test_split", "train_time_s"],
         "rows": "model", "cols": "data"}
