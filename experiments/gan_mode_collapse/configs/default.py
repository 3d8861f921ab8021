"""Mode collapse on 2-D Gaussian mixtures: every GAN loss x anti-collapse remedy, seeds vmapped in one run.

Variants: tiny (CI smoke), cpu (the README table; the 120-run sweep took 50 min on 2 cores
with `--workers 2`), paper (Metz et al. 2017 scale: 25k steps, batch 512). One run trains `num_seeds` seeds side by side (vmapped) and
reports mean ± std over them.

Usage:
  python -m experiments.gan_mode_collapse.main --config experiments/gan_mode_collapse/configs/default.py:cpu --workdir DIR
  python -m experiments.sweep --config experiments/gan_mode_collapse/configs/default.py:cpu --workdir DIR --workers 2
"""

import ml_collections

from genvision_jax.train.config import run_config

# Objectives with their paper-standard Lipschitz mechanism where they need one.
LOSSES = {
    "minimax": dict(loss="minimax"),
    "ns": dict(loss="non_saturating"),
    "lsgan": dict(loss="least_squares"),
    "hinge": dict(loss="hinge"),
    "ragan": dict(loss="relativistic_average"),
    "wgan_clip": dict(loss="wasserstein", d_clip=0.01),        # Arjovsky et al. 2017
    "wgan_gp": dict(loss="wasserstein", penalty="wgan_gp", penalty_weight=10.0),  # Gulrajani et al. 2017
}

# The anti-collapse toolkit, each as config overrides (gan.* recipe, model.*, optimizers).
REMEDIES = {
    "none": {},
    "minibatch_disc": {"model.minibatch_discrimination": 8},      # Salimans et al. 2016 §3.2
    "minibatch_std": {"model.minibatch_std": True},                # Karras et al. 2018 §3
    "feature_matching": {"gan.feature_matching": True},            # Salimans et al. 2016 §3.1
    "label_smoothing": {"gan.real_label": 0.9},                    # Salimans et al. 2016 §3.4 (one-sided)
    "instance_noise": {"gan.instance_noise": 0.1},                 # Sønderby et al. 2017, annealed to 0
    # Heusel et al. 2017: D faster than G (their 2-D/image settings use ratios of 3-4); same geometric mean.
    "ttur": {"g_optimizer.learning_rate": 5e-4, "d_optimizer.learning_rate": 2e-3},
    "n_critic5": {"gan.n_critic": 5},                              # Arjovsky et al. 2017
    "unrolled5": {"gan.unrolled_steps": 5},                        # Metz et al. 2017
}
NO_TARGET_LOSSES = ("hinge", "wgan_clip", "wgan_gp")  # one-sided label smoothing is undefined for these


def base() -> ml_collections.ConfigDict:
    # num_steps counts G updates; log_every is also the number of steps fused into one jitted scan.
    c = run_config("gan_points", num_steps=2000, log_every=250, checkpoint_every=1000, keep_checkpoints=2)
    c.num_seeds = 3                 # seeds seed, seed+1, ... trained side by side (vmapped)
    c.batch_size = 256              # per D update (a step with n_critic > 1 takes n_critic batches)

    c.dataset = ml_collections.ConfigDict()
    c.dataset.mixture = "ring8"     # ring8 | grid25 (genvision_jax.data.datasets.mixture2d)
    c.dataset.data_dir = ""

    c.model = ml_collections.ConfigDict()
    c.model.latent_dim = 16
    # Metz et al. 2017 App. A scale: two 128-unit ReLU layers; D first scales its input by 1/4 so the
    # mixtures (|x| <= 4.2) enter at roughly unit scale.
    c.model.g_hidden = 128
    c.model.g_layers = 2
    c.model.d_hidden = 128
    c.model.d_layers = 2
    c.model.d_input_scale = 0.25
    c.model.minibatch_std = False
    c.model.minibatch_discrimination = 0

    c.gan = ml_collections.ConfigDict(dict(loss="non_saturating", real_label=1.0, penalty="none",
                                           penalty_weight=0.0, penalty_every=1, n_critic=1, d_clip=0.0,
                                           feature_matching=False, instance_noise=0.0,
                                           instance_noise_anneal_steps=0, unrolled_steps=0))
    # Adam as in Metz et al. 2017's 2-D experiments (lr 1e-4 there over 25k steps; higher here for 2k steps).
    c.g_optimizer = ml_collections.ConfigDict(dict(name="adam", learning_rate=1e-3, b1=0.5, b2=0.999))
    # eps_root: the unrolled remedy differentiates through D's Adam steps, which is NaN where a second
    # moment is exactly 0 (dead ReLU units) without it; set for every variant so only the remedy differs.
    c.d_optimizer = ml_collections.ConfigDict(dict(name="adam", learning_rate=1e-3, b1=0.5, b2=0.999, eps_root=1e-8))

    c.instance_noise_fraction = 0.5  # instance noise anneals to 0 over this fraction of training

    c.eval = ml_collections.ConfigDict()
    c.eval.num_samples = 2500       # VEEGAN / PacGAN protocol
    c.eval.num_std = 3.0            # high quality: within 3σ of a mode
    c.eval.min_count = 20           # a mode is covered with >= 20 high-quality samples (PacGAN)
    return c


def get_config(variant: str = "cpu") -> ml_collections.ConfigDict:
    c = base()
    if variant == "tiny":
        c.num_seeds = 2
        c.num_steps = 6
        c.batch_size = 32
        c.log_every = 3
        c.checkpoint_every = 3
        c.model.g_hidden = c.model.d_hidden = 16
        c.eval.num_samples = 200
    elif variant == "cpu":
        # The whole sweep (120 runs x 3 seeds) took 50 min on 2 cores with `experiments.sweep --workers 2`
        # (target 30): minibatch discrimination and unrolled runs take over half of it.
        c.num_steps = 3000
        c.batch_size = 128
    elif variant == "paper":
        c.num_steps = 25_000
        c.batch_size = 512
        c.log_every = 1000
        c.checkpoint_every = 5000
        c.g_optimizer.learning_rate = c.d_optimizer.learning_rate = 1e-4
    else:
        raise ValueError(f"unknown variant {variant!r}; choose tiny, cpu or paper")
    return c


def _overrides(mixture: str, loss: str, remedy: str, num_steps: int, frac: float) -> dict:
    o = {"dataset.mixture": mixture, **{f"gan.{k}": v for k, v in LOSSES[loss].items()}, **REMEDIES[remedy]}
    if remedy == "instance_noise":
        o["gan.instance_noise_anneal_steps"] = int(num_steps * frac)
    return o


def get_sweep(variant: str = "cpu") -> list[dict]:
    """Every loss x remedy on both mixtures (label smoothing only where the loss has a target)."""
    c = get_config(variant)
    mixtures = ("ring8", "grid25")
    losses = list(LOSSES) if variant != "tiny" else ["ns", "wgan_gp"]
    remedies = list(REMEDIES) if variant != "tiny" else ["none", "unrolled5"]
    sweep = []
    for mixture in mixtures:
        for loss in losses:
            for remedy in remedies:
                if remedy == "label_smoothing" and loss in NO_TARGET_LOSSES:
                    continue
                sweep.append({"name": f"{mixture}/{loss}/{remedy}",
                              "labels": {"mixture": mixture, "loss": loss, "remedy": remedy},
                              "overrides": _overrides(mixture, loss, remedy, c.num_steps, c.instance_noise_fraction)})
    return sweep


# How the sweep runner tabulates this study (experiments/sweep.py).
# kl_modes stays in each results.json but not in the table: it is computed over high-quality samples
# with add-one smoothing, so with few high-quality samples it tends to 0 whatever the coverage.
TABLE = {
    "metrics": ["modes_covered", "high_quality"],
    "rows": "loss", "cols": "remedy", "split": "mixture",
}
