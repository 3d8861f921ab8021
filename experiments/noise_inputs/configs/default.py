"""Noise inputs (Karras et al. 2019 §3.2, Fig. 4-5; per-layer noise strength at inference): generators trained
with noise in every layer, in none, in the coarse layers only and in the fine layers only; each scored by FID
(domain extractor) and by its stochastic variation (per-pixel std over 16 noise draws of the same latent,
mean over pixels), and the all-layer generator also with the noise scaled at inference, globally (α ∈ {0, 0.5,
1, 2}) and per layer group (coarse only, fine only, fine x2). Figures: stochastic_variation.png of each run.

Paper: noise in all layers gives the best FID; removing it gives a "featureless painterly look"; coarse noise
makes large-scale curling of hair, fine noise finer detail (Fig. 5); at inference α = 0 gives smooth,
α > 1 grittier detail, the global structure unchanged.

Variants: tiny, cpu, paper. Usage:
  python -m experiments.sweep --config experiments/noise_inputs/configs/default.py:cpu --workdir DIR --seeds 0
"""

import ml_collections

from experiments.stylegan.configs.default import get_config as stylegan_config
from experiments.stylegan.configs.default import study_budget

LAYERS = ("all", "none", "coarse", "fine")
INFERENCE = ("0", "0.5", "1", "2", "coarse_only", "fine_only", "fine_x2")
BASE = {"tiny": "tiny", "cpu": "cpu", "paper": "paper_ffhq256"}


def get_config(variant: str = "cpu") -> ml_collections.ConfigDict:
    if variant not in BASE:
        raise ValueError(f"unknown variant {variant!r}; choose {', '.join(BASE)}")
    c = stylegan_config(BASE[variant])
    c.eval.variation_latents = 8
    c.eval.variation_draws = 16 if variant != "tiny" else 2
    if variant == "cpu":
        # Four runs within this session's share of the 2-core machine: 300 steps (9.6k images) each; no standard
        # Inception or PPL.
        study_budget(c, 300, 150)
    return c


def get_sweep(variant: str = "cpu") -> list[dict]:
    out = []
    for layers in LAYERS:
        over = {"model.noise_layers": layers}
        if layers == "all":
            over["eval.noise_settings"] = INFERENCE
        out.append({"name": f"noise_{layers}", "labels": {"trained with noise in": layers,
                                                          "data": "synthetic_faces 32px"}, "overrides": over})
    return out


TABLE = {"metrics": ["fid_final_ema", "variation_std_noise_1", "ppl_w_end"]
         + [f"fid_noise_{s}" for s in INFERENCE] + [f"variation_std_noise_{s}" for s in INFERENCE],
         "rows": "trained with noise in", "cols": "data"}
