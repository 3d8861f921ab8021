"""Style-mixing regularization (Karras et al. 2019 §3.1, Table 2): training with two latents at a random crossover
for a share p of the batch, p ∈ {0, 0.5, 0.9}; each generator is then scored with 1 latent and with 2 latents
mixed at inference (at a random crossover and at the coarse|middle and middle|fine boundaries), and by the
"mixing consistency" of each layer group: how much of each attribute of a mixed image follows the latent that
supplied that group's styles (measured with linear attribute probes on the domain classifier's features).

Paper (FFHQ, Table 2, FID): training without mixing is worst when several latents are mixed at test time
(0%: 4.42 with 1 latent, 8.22 with 2), 90% mixing is robust (4.40 / 4.33 / ...). Layer -> attribute (Fig. 3):
coarse styles carry pose, face shape, glasses; middle ones expression, hair style, eyes; fine ones colour
scheme and micro-structure.

Variants: tiny, cpu, paper. Usage:
  python -m experiments.sweep --config experiments/style_mixing/configs/default.py:cpu --workdir DIR --seeds 0
"""

import ml_collections

from experiments.stylegan.configs.default import get_config as stylegan_config
from experiments.stylegan.configs.default import study_budget

PROBS = (0.0, 0.5, 0.9)
BASE = {"tiny": "tiny", "cpu": "cpu", "paper": "paper_ffhq256"}
ATTRIBUTES = ("yaw", "pitch", "roll", "smile", "age", "glasses", "hat", "mask", "skin_tone", "light", "hair_color",
              "background", "shirt_color")
GROUPS = ("coarse", "middle", "fine")


def get_config(variant: str = "cpu") -> ml_collections.ConfigDict:
    if variant not in BASE:
        raise ValueError(f"unknown variant {variant!r}; choose {', '.join(BASE)}")
    c = stylegan_config(BASE[variant])
    c.eval.mixing_eval = True
    if variant == "cpu":
        # Three runs within this session's share of the 2-core machine: 300 steps (9.6k images) each; no standard
        # Inception or PPL.
        study_budget(c, 300, 150)
    return c


def get_sweep(variant: str = "cpu") -> list[dict]:
    return [{"name": f"mix{p:g}", "labels": {"mixing": f"p = {p:g}", "data": "synthetic_faces 32px"},
             "overrides": {"stylegan.mixing_prob": p}} for p in PROBS]


TABLE = {"metrics": ["fid_final_ema", "fid_mix_random", "fid_mix_k3", "fid_mix_k5", "ppl_w_end"]
         + [f"mixcons_{g}_{a}" for g in GROUPS for a in ATTRIBUTES],
         "rows": "mixing", "cols": "data"}
