"""Image GAN trainer (DCGAN, SNGAN-ResNet; any loss / penalty / normalization of the GAN zoo), top to
bottom: config → data → init → restore → loop → eval.

Config (experiments/dcgan/configs/default.py documents every key): `dataset` (name, split, image_size,
channels, random_flip), `model` (arch dcgan | resnet, widths, D norm, minibatch std/discrimination,
num_classes), `gan` (the recipe of `genvision_jax.tasks.gan`), `g_optimizer`, `d_optimizer`,
`ema_decay`, `eval` (generative metrics against a real split with the dataset's domain classifier or
a given extractor; `eval.metrics=()` turns evaluation off).
"""

from __future__ import annotations

from typing import Any

import jax
import ml_collections

from genvision_jax import data as gdata
from genvision_jax.errors import ConfigError
from genvision_jax.metrics.generative import GenerativeEvaluator, scores_for_log
from genvision_jax.metrics.image_sources import dataset_images
from genvision_jax.models.gan import DCGANDiscriminator, DCGANGenerator, ResNetDiscriminator, ResNetGenerator
from genvision_jax.tasks.gan import GANSetup, init_gan_state, make_gan_train_step, make_sampler, recipe_from_config
from genvision_jax.train import make_optimizer
from genvision_jax.train.run import Run
from genvision_jax.train.sharding import gather_to_host
from genvision_jax.train.writers import save_image_grid

ARCHS = {"dcgan": (DCGANGenerator, DCGANDiscriminator), "resnet": (ResNetGenerator, ResNetDiscriminator)}


def make_setup(config: ml_collections.ConfigDict) -> GANSetup:
    """Modules and recipe from the config: `model.arch` dcgan | resnet, `model.d_norm`, the `gan` recipe."""
    d, m = config.dataset, config.model
    if m.arch not in ARCHS:
        raise ConfigError(f"model.arch={m.arch!r} is unknown; choose one of {sorted(ARCHS)}")
    g_cls, d_cls = ARCHS[m.arch]
    try:
        discriminator = d_cls(d.image_size, d.channels, m.d_features, norm=m.d_norm, minibatch_std=m.minibatch_std,
                              minibatch_discrimination=m.minibatch_discrimination, num_classes=m.num_classes)
        generator = g_cls(d.image_size, d.channels, m.latent_dim, m.g_features, num_classes=m.num_classes)
        g_tx, d_tx = make_optimizer(config.g_optimizer.to_dict()), make_optimizer(config.d_optimizer.to_dict())
    except (ValueError, KeyError) as e:
        raise ConfigError(f"model / optimizer config: {e}") from None
    return GANSetup(generator=generator, discriminator=discriminator, g_tx=g_tx, d_tx=d_tx, latent_dim=m.latent_dim,
                    data_shape=(d.image_size, d.image_size, d.channels), ema_decay=config.ema_decay,
                    num_classes=m.num_classes, **recipe_from_config(config.gan.to_dict()))


def source_kwargs(d) -> dict:
    """get_source options of the dataset section: image_size and any `options` (e.g. smaller synthetic_faces)."""
    if d.name.startswith("tfds:"):
        return {}
    options = d.get("options")
    return {"image_size": d.image_size, **(options.to_dict() if options is not None else {})}


def make_data(config: ml_collections.ConfigDict, per_process_batch: int):
    """Training pipeline: seeded shuffle, per-process slice, scale to [-1, 1], optional flip.

    A step with `gan.n_critic` > 1 takes n_critic batches (one per D update), so it reads
    n_critic x `per_process_batch` examples."""
    d = config.dataset
    source = gdata.get_source(d.name, d.split, data_dir=d.data_dir or None, **source_kwargs(d))
    transforms = [gdata.transforms.ScaleImage()]
    if d.random_flip:
        transforms.append(gdata.transforms.RandomFlip())
    transforms.append(gdata.transforms.SelectKeys(("image", "label") if config.model.num_classes else ("image",)))
    return gdata.make_pipeline(source, batch_size=per_process_batch * config.gan.n_critic, seed=config.seed,
                               transforms=transforms)


def real_images(config: ml_collections.ConfigDict, split: str):
    d = config.dataset
    return dataset_images(d.name, split, data_dir=d.data_dir or None, **source_kwargs(d))


def make_evaluator(config: ml_collections.ConfigDict) -> GenerativeEvaluator | None:
    """The generative evaluator of `eval` against `eval.real_split` (None when `eval.metrics` is empty).

    The extractor is `eval.feature_extractor`, by default the dataset's domain classifier (digits
    32x32x1, shapes 32x32x3), checked against the image shape here."""
    d, e = config.dataset, config.eval
    if not e.metrics:
        return None
    return GenerativeEvaluator(e.feature_extractor or d.name, real_images(config, e.real_split),
                               num_samples=e.num_samples,
                               batch_size=e.batch_size, metrics=tuple(e.metrics),
                               sample_shape=(d.image_size, d.image_size, d.channels), seed=config.seed)


def make_standard_evaluator(config: ml_collections.ConfigDict) -> GenerativeEvaluator | None:
    """The evaluator of `eval.standard_extractor` (the standard Inception, 'inception:tf2015'), beside the
    domain one: `eval.standard_metrics` on `eval.standard_num_samples` samples against the first
    `eval.standard_num_real` images of `eval.real_split` (None when the extractor is '')."""
    d, e = config.dataset, config.eval
    if not e.standard_extractor or not e.standard_metrics:
        return None
    real = real_images(config, e.real_split)
    if e.standard_num_real > 0:
        real = real.take(e.standard_num_real)
    # KID subsets of half the smaller set (at most the usual 1,000), so its std over subsets means something
    # at the small counts a CPU affords (subsets as large as the set would all be the whole set).
    subset = max(2, min(1000, e.standard_num_samples // 2, len(real) // 2))
    return GenerativeEvaluator(e.standard_extractor, real, num_samples=e.standard_num_samples,
                               batch_size=e.batch_size, metrics=tuple(e.standard_metrics),
                               sample_shape=(d.image_size, d.image_size, d.channels), seed=config.seed,
                               kid_subset_size=subset)


def log_initial_scores(run: Run, state, evaluate, evaluator, standard) -> None:
    """At step 0: the domain and standard scores of the untrained generator, logged and kept for results.json.

    `evaluate(state, ema=False, with_=None)` scores the generator with `with_` (default `evaluator`)."""
    initial = {}
    if evaluator is not None:
        initial.update(scores_for_log(evaluate(state), suffix="_initial"))
    if standard is not None:
        initial.update(scores_for_log(evaluate(state, with_=standard), suffix="_inception_initial"))
    if initial:
        run.info["initial"] = initial
        run.log(0, {k.removesuffix("_initial"): v for k, v in initial.items()})


def final_scores(run: Run, state, config, evaluate, evaluator, standard, metrics: dict, protocol: dict, *,
                 standard_ema: bool) -> None:
    """The end-of-training scores of every image GAN trainer, into `metrics` / `protocol`: the domain metrics of
    the raw and EMA generators (`_final`, `_final_ema`), the held-out real split's FID as the scale, and the
    standard-Inception metrics of the EMA (`standard_ema`) or raw generator."""
    step = int(state.step)
    if evaluator is not None:
        raw, ema = evaluate(state), evaluate(state, ema=True)
        metrics.update({**scores_for_log(raw, suffix="_final"), **scores_for_log(ema, suffix="_final_ema")})
        run.log(step, {**scores_for_log(raw), **scores_for_log(ema, suffix="_ema")})
        protocol["generative"] = raw["protocol"]
        # Scale for the numbers above: the held-out real split scored like a generator.
        reference = evaluator.real_fid(real_images(config, "test"))
        metrics["fid_real_test_split"] = reference["fid"]
        protocol["fid_real_test_split"] = {"n_real": reference["protocol"]["n_real"],
                                           "n_fake": reference["protocol"]["n_fake"]}
    if standard is not None:
        final = evaluate(state, ema=standard_ema, with_=standard)
        suffix = "_inception_final_ema" if standard_ema else "_inception_final"
        metrics.update(scores_for_log(final, suffix=suffix))
        run.log(step, scores_for_log(final, suffix="_inception_ema" if standard_ema else "_inception"))
        protocol["generative_inception"] = final["protocol"]


def write_sample_grid(run: Run, images, name: str, step: int) -> None:
    """A sample grid PNG in the workdir (process 0) and in TensorBoard; `images` already gathered to the host."""
    if jax.process_index() == 0:
        save_image_grid(images, run.workdir / name, scale=2)
    run.writer.write_images(step, "samples_ema", images)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, mesh=None) -> dict[str, Any]:
    """Train the GAN per `config` in `workdir` (resuming from its last checkpoint) and evaluate it."""
    run = Run(config, workdir, mesh=mesh, batch_keys=("batch_size", "eval.batch_size", "num_sample_images"))
    setup = make_setup(config)
    evaluator = make_evaluator(config)
    standard = make_standard_evaluator(config)
    pipeline = make_data(config, run.local_batch("batch_size"))

    # ------------------------------------------------------------------ init and restore
    state = run.init(lambda rng: init_gan_state(setup, rng))
    state = run.restore(state, data=pipeline)
    train_step = make_gan_train_step(setup, run.mesh)
    sampler = make_sampler(setup, run.mesh)
    sample_z = jax.random.normal(run.key("samples"), (config.num_sample_images, setup.latent_dim))

    def evaluate(state, ema: bool = False, with_=None) -> dict:
        """An evaluator (default the domain one) on fixed latents (stream 'fid', the same every time)."""
        params, bs = (state.g_ema if ema else state.g_params), config.eval.batch_size
        sample = lambda i: gather_to_host(sampler(params, state.g_stats,  # noqa: E731
                                                  jax.random.normal(run.key("fid", i), (bs, setup.latent_dim))))
        return (with_ or evaluator)(sample, {"generator": "ema" if ema else "raw", "sampling": "batch-stat BN",
                                             "z_stream": "fid"})

    def save_samples(name: str, step: int) -> None:
        images = gather_to_host(sampler(state.g_ema, state.g_stats, sample_z))  # a collective: every process
        write_sample_grid(run, images, name, step)

    if run.start_step == 0:
        log_initial_scores(run, state, evaluate, evaluator, standard)

    # ------------------------------------------------------------------ loop
    for step in run.steps():
        state, metrics = train_step(state, run.global_batch(next(pipeline)), run.root)
        run.record(step, metrics)
        if evaluator is not None and run.every(step, config.eval.fid_every) and step != run.num_steps:
            with run.paused(state):
                run.log(step, scores_for_log(evaluate(state)))
        if run.every(step, config.sample_every):
            with run.paused(state):
                save_samples(f"samples_{step:07d}.png", step)
        run.checkpoint(step, state, data=pipeline)
    pipeline.close()

    # ------------------------------------------------------------------ eval
    metrics_out: dict[str, Any] = dict(run.info.get("initial", {}))
    protocol: dict[str, Any] = {
        "dataset": config.dataset.name, "split": config.dataset.split, "image_size": config.dataset.image_size,
        "seed": config.seed, "steps": int(state.step), "global_batch_size": config.batch_size,
        "sampling": "generator in BatchNorm batch-statistics mode, fixed z grid from stream 'samples'",
    }
    with run.paused(state):
        final_scores(run, state, config, evaluate, evaluator, standard, metrics_out, protocol, standard_ema=False)
        save_samples("samples_final.png", int(state.step))
    metrics_out["train_steps"] = int(state.step)
    metrics_out["train_time_s"] = run.train_time_s
    return run.finish(metrics_out, protocol, state=state)
