"""ADA on limited data (Karras et al. 2020b, "Training Generative Adversarial Networks with Limited Data",
Fig. 1, 5, 7): StyleGAN 2 trained on 200, 1,000 and 5,000 synthetic_faces images (spread evenly over the
40,000 training pictures) with no augmentation, with a fixed augmentation probability p = 0.2 (bgc pipe), and with
ADA (p adjusted from r_t = E[sign(D(real))] toward 0.6); FID against the test split (500 unseen identities),
the overfitting heuristic r_t and p over training (curves).

Paper (FFHQ 2k-140k, Fig. 5-7): without augmentation FID worsens quickly as data shrinks and D overfits (r_t
-> 1); ADA keeps r_t near the target and rescues small data (FFHQ 2k: FID 78.8 -> 16.5), fixed p helps but
its best value depends on the data size.

The cpu sweep runs 4 of the 9 cells (none vs ADA at 200 and 1,000 images; CPU_SIZES, CPU_AUGMENT); the paper
variant runs all nine. ADA's speed: the official 500k images for p to go 0 -> 1 would move p by 0.1 in a CPU run; ada_kimg = 10 here
(p can move 0 -> 1 over 10k images), stated in the protocol.
Variants: tiny, cpu, paper. Usage:
  python -m experiments.sweep --config experiments/ada_fewshot/configs/default.py:cpu --workdir DIR --seeds 0
"""

import ml_collections

from experiments.stylegan.configs.default import get_config as stylegan_config
from experiments.stylegan.configs.default import study_budget

SIZES = (200, 1000, 5000)
# The cpu sweep's share of the 3 x 3 design that fits this machine's budget: no augmentation vs ADA at 200 and
# 1,000 images (the fixed-p column and 5,000 images are in the paper variant).
CPU_SIZES, CPU_AUGMENT = (200, 1000), ("none", "ada")
AUGMENT = {"none": {"stylegan.ada_target": 0.0, "stylegan.ada_p": 0.0},
           "fixed_p0.2": {"stylegan.ada_target": 0.0, "stylegan.ada_p": 0.2},
           "ada": {"stylegan.ada_target": 0.6, "stylegan.ada_p": 0.0}}
BASE = {"tiny": "tiny", "cpu": "cpu", "paper": "paper_ffhq256"}


def get_config(variant: str = "cpu") -> ml_collections.ConfigDict:
    if variant not in BASE:
        raise ValueError(f"unknown variant {variant!r}; choose {', '.join(BASE)}")
    c = stylegan_config(BASE[variant])
    c.eval.real_split = "test"
    c.stylegan.ada_kimg = 10.0 if variant != "paper" else 500.0
    c.stylegan.ada_interval = 4
    if variant == "cpu":
        # Four runs on one core in about 40 min: 250 steps (8k images: 40 epochs of the 200-image set) each.
        study_budget(c, 250, 125)
        c.log_every = 25
    return c


def get_sweep(variant: str = "cpu") -> list[dict]:
    sizes = {"tiny": (8, 16), "cpu": CPU_SIZES}.get(variant, SIZES)
    augment = {k: AUGMENT[k] for k in CPU_AUGMENT} if variant == "cpu" else AUGMENT
    return [{"name": f"n{n}/{aug}", "labels": {"training images": n, "augmentation": aug},
             "overrides": {"dataset.max_images": n, **over}} for n in sizes for aug, over in augment.items()]


TABLE = {"metrics": ["fid_final_ema", "kid_final_ema", "r_t_final", "ada_p",
                     "train_time_s"],
         "rows": "training images", "cols": "augmentation", "curves": ["r_t", "ada_p", "fid_ema"],
         "curves_yscale": "linear"}
