"""GAN objectives x D normalization on DCGAN (compare_gan's loss/normalization study at CPU scale).

Variants: tiny (CI smoke), cpu (the README table: digits and shapes at 32x32, 3 seeds per variant),
paper (64x64 shapes with the DCGAN paper's widths, 20k steps). Each variant of the sweep is one
(dataset, loss, D norm) cell; every cell runs once per seed (`experiments.sweep --seeds 0,1,2`).

Usage:
  python -m experiments.gan_losses.main --config experiments/gan_losses/configs/default.py:cpu --workdir DIR
  python -m experiments.sweep --config experiments/gan_losses/configs/default.py:cpu --workdir DIR --seeds 0,1,2
"""

import ml_collections

from experiments.dcgan.configs.default import base as dcgan_base

ADAM_DCGAN = dict(name="adam", learning_rate=2e-4, b1=0.5, b2=0.999)   # Radford et al. 2016
LOSSES = {
    "ns": {"gan.loss": "non_saturating"},
    "lsgan": {"gan.loss": "least_squares"},                               # Mao et al. 2017
    "hinge": {"gan.loss": "hinge"},                                       # Lim & Ye 2017, Miyato et al. 2018
    # Arjovsky et al. 2017, Algorithm 1: clip 0.01, n_critic 5, RMSProp lr 5e-5.
    "wgan_clip": {"gan.loss": "wasserstein", "gan.d_clip": 0.01, "gan.n_critic": 5,
                  "g_optimizer": dict(name="rmsprop", learning_rate=5e-5),
                  "d_optimizer": dict(name="rmsprop", learning_rate=5e-5)},
    # Gulrajani et al. 2017, Algorithm 1: λ = 10, n_critic 5, Adam lr 1e-4, β = (0, 0.9).
    "wgan_gp": {"gan.loss": "wasserstein", "gan.penalty": "wgan_gp", "gan.penalty_weight": 10.0,
                "gan.n_critic": 5, "g_optimizer": dict(name="adam", learning_rate=1e-4, b1=0.0, b2=0.9),
                "d_optimizer": dict(name="adam", learning_rate=1e-4, b1=0.0, b2=0.9)},
}
NORMS = ("batch", "spectral", "none")
DATASETS = {"digits": {"dataset.name": "digits", "dataset.channels": 1, "dataset.random_flip": False},
            "shapes": {"dataset.name": "shapes", "dataset.channels": 3, "dataset.random_flip": True}}


def get_config(variant: str = "cpu") -> ml_collections.ConfigDict:
    c = dcgan_base()
    c.g_optimizer = ml_collections.ConfigDict(ADAM_DCGAN)
    c.d_optimizer = ml_collections.ConfigDict(ADAM_DCGAN)
    if variant == "tiny":
        c.num_steps = 4
        c.batch_size = 16
        c.dataset.image_size = 16
        c.model.g_features = c.model.d_features = 8
        c.log_every = c.checkpoint_every = 2
        c.sample_every = 0
        c.num_sample_images = 16
        c.eval.metrics = ()
        c.eval.standard_extractor = ""
    elif variant == "cpu":
        # Sized for 90 runs on 2 shared cores: 400 G steps at widths 16 (a quarter of the paper's).
        c.num_steps = 400
        c.model.g_features = c.model.d_features = 16
        c.ema_decay = 0.99
        c.log_every = 50
        c.checkpoint_every = 200
        c.sample_every = 0
        c.eval.num_samples = 1000
        c.eval.fid_every = 100
    elif variant == "paper":
        c.dataset.name = "shapes"
        c.dataset.image_size = 64
        c.dataset.channels = 3
        c.dataset.random_flip = True
        c.batch_size = 128
        c.num_steps = 20_000
        c.eval.metrics = ()  # no 64x64 shapes extractor: the standard Inception below is the measure
        c.eval.standard_num_samples = 10_000
        c.eval.standard_num_real = 0
    else:
        raise ValueError(f"unknown variant {variant!r}; choose tiny, cpu or paper")
    return c


def get_sweep(variant: str = "cpu") -> list[dict]:
    datasets = ["digits", "shapes"] if variant != "paper" else ["shapes"]
    sweep = []
    for data in datasets:
        for loss, loss_over in LOSSES.items():
            for norm in NORMS:
                over = {**(DATASETS[data] if variant != "paper" else {}), **loss_over, "model.d_norm": norm}
                sweep.append({"name": f"{data}/{loss}/{norm}", "labels": {"dataset": data, "loss": loss, "d_norm": norm},
                              "overrides": over})
    return sweep


TABLE = {"metrics": ["fid_final", "fid_final_ema"], "rows": "loss", "cols": "d_norm", "split": "dataset",
         "curves": ["fid"], "digits": {"fid_final": 1, "fid_final_ema": 1}}
