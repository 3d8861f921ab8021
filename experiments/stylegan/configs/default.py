"""StyleGAN configs. Variants:

- tiny: CI smoke (16x16, a few steps);
- cpu: StyleGAN 2 (config E: skip G, residual D, lazy R1 + path length, mixing 0.9) on synthetic_faces 32x32,
  sized for this 2-core CPU: channels min(1024 / res, 64) (64 at 4²-16², 32 at 32²), z = w = 128, 2 mapping
  layers (the official 'auto' config's depth at low resolution), batch 32, R1 γ = 1 (the official paper256
  value; the 'auto' formula's 0.0064 at 32² learned slower in a 300-step trial here), im2col convolutions
  (`model.conv_impl='gemm'`: on this machine XLA's own convolutions make R1's and path length's second
  derivatives 1.8x slower); 3,000 steps = 96k images, about 1.2 s per step on 2 cores;
- config_a ... config_f: the StyleGAN 2 paper's Table 1 configurations at the cpu scale (PAPER_CONFIGS);
  the studies (experiments/stylegan_configs, truncation, style_mixing, noise_inputs, ada_fewshot,
  progressive_vs_skip) start from these configs and set their own step budgets;
- cpu_stylegan1: the StyleGAN 1 generator (AdaIN, per-channel noise, config A's G without growing) at the
  cpu scale, with the StyleGAN 2 discriminator and recipe;
- cpu_ada: cpu with ADA (target r_t 0.6, bgc pipe, p adjusted at a CPU-scale speed);
- paper_ffhq256: stylegan2-ada-pytorch's 'paper256' (FFHQ 256²: batch 64, channel_base 16384, γ 1, EMA 20
  kimg, no ramp-up, mapping 8, mbstd group 8, lr 0.0025, β (0, 0.99), 25,000 kimg) on a user's
  `tfds:` dataset or synthetic_faces 128 as stand-in;
- paper_cifar10: the official 'cifar' config (batch 64, channel_base 32768, channel_max 512, γ 0.01, EMA
  500 kimg, ramp-up 0.05, mapping 2, mbstd 32, no mixing, no path length, D 'orig').

Usage: --config experiments/stylegan/configs/default.py:cpu
"""

import ml_collections

from genvision_jax.train.config import run_config

# Karras et al. 2020 ("Analyzing and Improving the Image Quality of StyleGAN"), Table 1, as overrides of the
# cpu config (which is config E). The paper's A-D grow progressively; here every config trains at full
# resolution from the start (growing is measured on its own in experiments/progressive_vs_skip), so A-D differ
# from E only in what the table names: A the StyleGAN 1 generator (AdaIN, per-channel noise, 'orig' G and D,
# R1 every step, no path length); B weight demodulation instead of AdaIN; C lazy R1 (every 16 D steps); D path
# length regularization (every 4 G steps); E the skip G and residual D; F larger networks (every resolution's
# channels doubled, 64 -> 128 at CPU scale: the paper doubles them from 64² up).
PAPER_CONFIGS = {
    "A": {"model.g_style": "adain", "model.g_architecture": "orig", "model.d_architecture": "orig",
          "stylegan.r1_every": 1, "stylegan.pl_weight": 0.0},
    "B": {"model.g_architecture": "orig", "model.d_architecture": "orig", "stylegan.r1_every": 1,
          "stylegan.pl_weight": 0.0},
    "C": {"model.g_architecture": "orig", "model.d_architecture": "orig", "stylegan.pl_weight": 0.0},
    "D": {"model.g_architecture": "orig", "model.d_architecture": "orig"},
    "E": {},
    "F": {"model.channel_base": 4096, "model.channel_max": 128},
}


def base() -> ml_collections.ConfigDict:
    c = run_config("stylegan_images", num_steps=3000, log_every=50, checkpoint_every=500, keep_checkpoints=3)
    c.batch_size = 32
    c.sample_every = 500
    c.num_sample_images = 64

    c.dataset = ml_collections.ConfigDict()
    c.dataset.name = "synthetic_faces"
    c.dataset.split = "train"
    c.dataset.image_size = 32
    c.dataset.channels = 3
    c.dataset.random_flip = True     # x-flip of the dataset (stylegan2-ada --mirror=1)
    c.dataset.data_dir = ""
    c.dataset.options = ml_collections.ConfigDict()  # more get_source options (e.g. smaller synthetic_faces)
    c.dataset.max_images = 0         # > 0: train on that many records spread evenly over the split (few-shot)

    c.model = ml_collections.ConfigDict()
    c.model.z_dim = 128
    c.model.w_dim = 128
    c.model.mapping_layers = 2
    c.model.mapping_lr_mul = 0.01
    c.model.channel_base = 1024      # channels at res r: min(channel_base / r, channel_max)
    c.model.channel_max = 64
    c.model.g_architecture = "skip"  # orig | skip | resnet
    c.model.d_architecture = "resnet"
    c.model.g_style = "modulated"    # modulated (StyleGAN 2) | adain (StyleGAN 1)
    c.model.w_avg_beta = 0.995
    c.model.mbstd_group = 4
    c.model.modconv_impl = "scaled"  # scaled | batched_gemm | grouped (all exact)
    c.model.conv_impl = "gemm"       # auto | gemm | xla | xla_gemm: genvision_jax.nn.conv's formulation
    c.model.noise_layers = "all"     # all | none | coarse | fine: which resolutions get noise inputs
    c.model.num_bf16_res = 0         # mixed precision: the highest N resolutions in bfloat16 (official fp16: 4)
    c.model.conv_clamp = 0.0         # > 0: clamp those layers' activations (official 256 with mixed precision)

    # The recipe (genvision_jax.tasks.stylegan.RECIPE_DEFAULTS); EMA half-life batch · 10 / 32 kimg as 'auto'.
    c.stylegan = ml_collections.ConfigDict(dict(
        loss="non_saturating", mixing_prob=0.9, r1_gamma=1.0, r1_every=16, pl_weight=2.0, pl_every=4,
        pl_decay=0.01, pl_batch_shrink=2, ema_kimg=10.0, ema_rampup=0.05, ada_target=0.0, ada_p=0.0,
        ada_interval=4, ada_kimg=500.0, ada_pipe="bgc"))
    c.g_optimizer = ml_collections.ConfigDict(dict(name="adam", learning_rate=0.0025, b1=0.0, b2=0.99, eps=1e-8))
    c.d_optimizer = ml_collections.ConfigDict(dict(name="adam", learning_rate=0.0025, b1=0.0, b2=0.99, eps=1e-8))

    c.eval = ml_collections.ConfigDict()
    c.eval.metrics = ("fid", "kid", "prdc")
    c.eval.feature_extractor = ""    # '' = the dataset's domain classifier
    c.eval.fid_every = 500
    c.eval.num_samples = 2000
    c.eval.batch_size = 100
    c.eval.real_split = "train"
    c.eval.psi = 1.0
    c.eval.standard_extractor = "inception:tf2015"
    c.eval.standard_metrics = ("fid", "kid")
    c.eval.standard_num_samples = 100
    c.eval.standard_num_real = 100
    # At the end, with the EMA generator (genvision_jax.tasks.stylegan_eval): domain metrics per ψ and per noise
    # setting ('1', '0.5', ... global multipliers; 'coarse_only', 'fine_only', 'fine_x2' per layer group),
    # inference-time mixing FIDs and the mixing consistency of each layer group, variation maps, PPL.
    c.eval.truncation_psis = ()
    c.eval.noise_settings = ()
    c.eval.mixing_eval = False
    c.eval.mixing_pairs = 500
    c.eval.variation_latents = 0
    c.eval.variation_draws = 16
    c.eval.ppl_num_samples = 1000
    c.eval.ppl_space = "w"
    c.eval.ppl_sampling = "end"        # end (StyleGAN 2) | full (StyleGAN 1)
    c.eval.ppl_crop = False
    c.eval.ppl_distance = "efficientnet_lite0"  # | pixel
    c.eval.ppl_size = 64
    return c


def study_budget(c: ml_collections.ConfigDict, steps: int, every: int, *, num_samples: int = 1000,
                 inception: bool = False, ppl_pairs: int = 0) -> ml_collections.ConfigDict:
    """A study's cpu budget on `c`: steps, checkpoint/sample/FID interval, domain-FID samples, and whether the
    standard Inception and PPL (pairs) are computed (both cost minutes per run on this CPU)."""
    c.num_steps = steps
    c.checkpoint_every = c.sample_every = c.eval.fid_every = every
    c.eval.num_samples = num_samples
    if not inception:
        c.eval.standard_extractor = ""
    c.eval.ppl_num_samples = ppl_pairs
    return c


def get_config(variant: str = "cpu") -> ml_collections.ConfigDict:
    c = base()
    if variant == "tiny":
        c.num_steps = 6
        c.batch_size = 8
        c.dataset.image_size = 16
        c.dataset.options = ml_collections.ConfigDict(dict(num_train_identities=8, num_test_identities=2,
                                                           images_per_identity=4))
        c.model.z_dim = c.model.w_dim = 16
        c.model.channel_base = 128
        c.model.channel_max = 16
        c.model.conv_impl = "xla"  # XLA's own convolutions compile about 25% faster than im2col at this size
        c.log_every = c.checkpoint_every = 2
        c.sample_every = 3
        c.num_sample_images = 8
        c.eval.batch_size = 8
        c.stylegan.r1_every = 2
        c.stylegan.pl_every = 2
        c.eval.metrics = ()
        c.eval.standard_extractor = ""
        c.eval.ppl_num_samples = 0
    elif variant == "cpu":
        pass
    elif variant == "cpu_stylegan1":
        c.model.g_style = "adain"
        c.model.g_architecture = "orig"
        c.stylegan.pl_weight = 0.0
    elif variant.startswith("config_") and variant[7:].upper() in PAPER_CONFIGS:
        for key, value in PAPER_CONFIGS[variant[7:].upper()].items():
            section, name = key.split(".")
            c[section][name] = value
    elif variant == "cpu_ada":
        c.stylegan.ada_target = 0.6
        c.stylegan.ada_kimg = 20.0   # the official 500 kimg to go 0 -> 1 would move p by 0.2 in a CPU run
    elif variant == "paper_ffhq256":
        c.dataset.image_size = 128   # the stand-in; set dataset.name=tfds:... and image_size=256 for FFHQ
        c.batch_size = 64
        c.num_steps = 25_000_000 // 64
        c.model.z_dim = c.model.w_dim = 512
        c.model.mapping_layers = 8
        c.model.channel_base = 16384
        c.model.channel_max = 512
        c.model.mbstd_group = 8
        c.model.conv_impl = "auto"   # XLA's convolutions off CPU
        c.stylegan.r1_gamma = 1.0
        c.stylegan.ema_kimg = 20.0
        c.stylegan.ema_rampup = 0.0
        c.log_every = 100
        c.checkpoint_every = c.sample_every = c.eval.fid_every = 5000
        c.eval.metrics = ()          # no domain extractor at 128²: the standard Inception is the measure
        c.eval.ppl_num_samples = 50_000
        c.eval.num_samples = 50_000
        c.eval.standard_num_samples = 50_000
        c.eval.standard_num_real = 0
    elif variant == "paper_cifar10":
        c.dataset.name = "tfds:cifar10"
        c.dataset.random_flip = False
        c.batch_size = 64
        c.num_steps = 100_000_000 // 64
        c.model.z_dim = c.model.w_dim = 512
        c.model.channel_base = 32768
        c.model.channel_max = 512
        c.model.d_architecture = "orig"
        c.model.mbstd_group = 32
        c.model.conv_impl = "auto"
        c.stylegan.mixing_prob = 0.0
        c.stylegan.pl_weight = 0.0
        c.stylegan.r1_gamma = 0.01
        c.stylegan.ema_kimg = 500.0
        c.eval.metrics = ()
        c.eval.standard_num_samples = 50_000
        c.eval.standard_num_real = 0
        c.log_every = 100
        c.checkpoint_every = c.sample_every = 5000
    else:
        raise ValueError(f"unknown StyleGAN config variant {variant!r}; choose tiny, cpu, config_a .. config_f, "
                         "cpu_stylegan1, cpu_ada, paper_ffhq256 or paper_cifar10")
    c.lock()
    return c


def get_sweep(variant: str = "cpu") -> list[dict]:
    c = get_config(variant)
    return [{"name": variant, "labels": {"run": variant, "dataset": c.dataset.name}, "overrides": {}}]


TABLE = {"metrics": ["fid_initial", "fid_final", "fid_final_ema", "kid_final_ema", "precision_final_ema",
                     "recall_final_ema", "fid_real_test_split", "fid_inception_initial",
                     "fid_inception_final_ema", "pl_mean", "train_time_s"],
         "rows": "run", "cols": "dataset",
         "synthetic_faces": {"fid_initial": 1, "fid_final": 2, "fid_final_ema": 2, "kid_final_ema": 4,
                             "precision_final_ema": 3, "recall_final_ema": 3, "fid_real_test_split": 2,
                             "fid_inception_initial": 1, "fid_inception_final_ema": 1, "pl_mean": 3,
                             "train_time_s": 0}}
