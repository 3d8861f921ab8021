"""Progressive growing (ProGAN) vs StyleGAN 2 trained at full resolution, at equal images seen.

Karras et al. 2020 (§4.1) dropped progressive growing for the skip generator and residual discriminator; this
study trains both on synthetic_faces 32x32 for the same number of images with the same widths and batch:
- progan: ProGAN (Karras et al. 2018) with its own recipe (WGAN-GP λ 10 plus drift 0.001, Adam 0.001 β (0, 0.99),
  G EMA 0.999), growing 4 -> 8 -> 16 -> 32 with 2k images per fade-in and per stable phase (the official
  600k + 600k images scaled to the CPU budget), then stable at 32x32 to the end;
- stylegan2: the StyleGAN 2 cpu config (experiments/stylegan, config E).
Both are scored by the same evaluator (the synthetic_faces domain classifier and the standard Inception).

Variants: tiny (CI smoke; trainer progan_images; the lifecycle test's ProGAN), cpu (the README table), paper
(ProGAN's CelebA-HQ-like schedule at 128x128: 600k images per phase, batch 16, channel_base 8192).
The sweep's two entries switch `trainer` between progan_images and stylegan_images; the config holds both
recipes (`progan`, `stylegan`), each trainer reads its own.

Usage: python -m experiments.sweep --config experiments/progressive_vs_skip/configs/default.py:cpu --workdir DIR --seeds 0
"""

import ml_collections

from experiments.stylegan.configs.default import get_config as stylegan_config
from experiments.stylegan.configs.default import study_budget

PROGAN = {"trainer": "progan_images", "g_optimizer.learning_rate": 0.001, "d_optimizer.learning_rate": 0.001}


def get_config(variant: str = "cpu") -> ml_collections.ConfigDict:
    base = {"tiny": "tiny", "cpu": "cpu", "paper": "paper_ffhq256"}
    if variant not in base:
        raise ValueError(f"unknown variant {variant!r}; choose tiny, cpu or paper")
    c = stylegan_config(base[variant])
    c.unlock()
    c.progan = ml_collections.ConfigDict(dict(loss="wasserstein", penalty="wgan_gp", gp_weight=10.0, drift=0.001,
                                              stable_images=8000, transition_images=8000))
    c.ema_decay = 0.999
    if variant == "tiny":
        # 16x16 (stages 4, 8, 16), batch 8: stage 0 is step 0, the 8x8 fade-in steps 1-2 (the lifecycle test's
        # step-2 checkpoint falls inside it), stable step 3, the 16x16 fade-in steps 4-5.
        c.trainer = "progan_images"
        c.progan.stable_images = 8
        c.progan.transition_images = 16
        c.ema_decay = 0.9
        c.g_optimizer.learning_rate = c.d_optimizer.learning_rate = 0.001
    elif variant == "cpu":
        # Two runs of 600 steps of batch 32 (19.2k images) each. ProGAN: 2k images per phase (the official
        # 600k + 600k scaled), so 32x32 fades in from 10k images and the last 7.2k train it at full strength;
        # the official 1:1 fade-in : stable ratio is kept.
        study_budget(c, 600, 300, inception=True)
        c.progan.stable_images = c.progan.transition_images = 2000
    elif variant == "paper":
        c.dataset.image_size = 128
        c.batch_size = 16
        c.progan.stable_images = c.progan.transition_images = 600_000
        c.num_steps = 12_000_000 // 16
        c.model.channel_base = 8192
    c.lock()
    return c


def get_sweep(variant: str = "cpu") -> list[dict]:
    data = f"{get_config(variant).dataset.name} {get_config(variant).dataset.image_size}px"
    return [{"name": "progan", "labels": {"model": "ProGAN (growing)", "data": data}, "overrides": dict(PROGAN)},
            {"name": "stylegan2", "labels": {"model": "StyleGAN 2 (skip G, residual D)", "data": data},
             "overrides": {}}]


TABLE = {"metrics": ["fid_initial", "fid_final", "fid_final_ema", "kid_final_ema", "precision_final_ema",
                     "recall_final_ema", "fid_inception_final_ema", "train_time_s"],
         "rows": "model", "cols": "data",
         "digits": {"fid_initial": 1, "fid_final": 2, "fid_final_ema": 2, "kid_final_ema": 4, "precision_final_ema": 3,
                    "recall_final_ema": 3, "fid_inception_final_ema": 1, "train_time_s": 0}}
