"""StyleGAN 2's Table 1 at CPU scale: configs A (StyleGAN 1 baseline) -> F (larger networks) on synthetic_faces
32x32, FID with the domain extractor and the standard Inception, and PPL in W (end points).

Each entry of the sweep is one configuration of `experiments/stylegan/configs/default.py` (PAPER_CONFIGS says
what each letter changes; A-D train at full resolution rather than growing, see there). Paper (FFHQ 1024²,
Karras et al. 2020 Table 1): FID 4.40 (A) -> 2.84 (F), PPL 412 -> 109 (config F: 145 at ... the table lists
PPL per row); here the direction per row is what the README compares.

Variants: tiny (CI smoke), cpu (the README table), paper (the official FFHQ-256 recipe, per letter).
Usage: python -m experiments.sweep --config experiments/stylegan_configs/configs/default.py:cpu --workdir DIR --seeds 0
"""

import ml_collections

from experiments.stylegan.configs.default import PAPER_CONFIGS, study_budget
from experiments.stylegan.configs.default import get_config as stylegan_config

BASE = {"tiny": "tiny", "cpu": "cpu", "paper": "paper_ffhq256"}


def get_config(variant: str = "cpu") -> ml_collections.ConfigDict:
    if variant not in BASE:
        raise ValueError(f"unknown variant {variant!r}; choose {', '.join(BASE)}")
    c = stylegan_config(BASE[variant])
    if variant == "cpu":
        # Six runs in <= 60 min on 2 cores (two sweep workers): 300 steps of batch 32 (9.6k images) each; F's
        # doubled widths cost about 3x per step. Domain FID on 1,000 samples, PPL on 500 pairs.
        study_budget(c, 300, 150, inception=True, ppl_pairs=500)
    return c


def get_sweep(variant: str = "cpu") -> list[dict]:
    data = f"{get_config(variant).dataset.name} {get_config(variant).dataset.image_size}px"
    out = []
    for letter, overrides in PAPER_CONFIGS.items():
        over = dict(overrides)
        if letter == "F" and variant == "paper":
            over = {"model.channel_base": 32768, "model.channel_max": 512}
        out.append({"name": f"config_{letter.lower()}", "labels": {"config": letter, "data": data},
                    "overrides": over})
    return out


TABLE = {"metrics": ["fid_initial", "fid_final_ema", "kid_final_ema", "precision_final_ema", "recall_final_ema",
                     "fid_inception_final_ema", "ppl_w_end", "train_time_s"],
         "rows": "config", "cols": "data",
         "digits": {"fid_initial": 1, "fid_final_ema": 2, "kid_final_ema": 4, "precision_final_ema": 3,
                    "recall_final_ema": 3, "fid_inception_final_ema": 1, "ppl_w_end": 1, "train_time_s": 0}}
