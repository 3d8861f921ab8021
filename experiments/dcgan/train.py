"""DCGAN training and evaluation, top to bottom: config → mesh → data → init → restore → loop → eval.

`train_and_evaluate(config, workdir)` is the testable core; `main.py` is the thin absl entry point.
"""

import functools
import json
import time
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np
from tqdm import tqdm

from genvision_jax import data as gdata
from genvision_jax.metrics import FeatureStats, compute_fid, stats_from_images
from genvision_jax.metrics.features import get_feature_extractor
from genvision_jax.models.gan import DCGANDiscriminator, DCGANGenerator, ResNetDiscriminator, ResNetGenerator
from genvision_jax.train import Checkpointer, make_mesh, make_optimizer, stream_key, to_global_batch
from genvision_jax.train.checkpoint import sync_global_devices
from genvision_jax.train.gan import (GANSetup, abstract_gan_state, create_gan_state, make_gan_train_step,
                                     make_sampler, recipe_from_config)
from genvision_jax.train.loop import MetricBuffer, check_finite_tree, is_due
from genvision_jax.train.results import write_results
from genvision_jax.train.rng import root_key
from genvision_jax.train.sharding import check_global_batch_size, gather_to_host
from genvision_jax.train.writers import MetricWriter, save_image_grid



def make_setup(config: ml_collections.ConfigDict) -> GANSetup:
    """Modules and recipe from the config: `model.arch` dcgan | resnet, `model.d_norm`, the `gan` recipe."""
    d, m = config.dataset, config.model
    d_kwargs = dict(norm=m.d_norm, minibatch_std=m.minibatch_std, minibatch_discrimination=m.minibatch_discrimination,
                    num_classes=m.num_classes)
    if m.arch == "dcgan":
        generator = DCGANGenerator(d.image_size, d.channels, m.latent_dim, m.g_features, num_classes=m.num_classes)
        discriminator = DCGANDiscriminator(d.image_size, d.channels, m.d_features, **d_kwargs)
    elif m.arch == "resnet":
        generator = ResNetGenerator(d.image_size, d.channels, m.latent_dim, m.g_features, num_classes=m.num_classes)
        discriminator = ResNetDiscriminator(d.image_size, d.channels, m.d_features, **d_kwargs)
    else:
        raise ValueError(f"unknown model.arch {m.arch!r}; choose 'dcgan' or 'resnet'")
    return GANSetup(
        generator=generator,
        discriminator=discriminator,
        g_tx=make_optimizer(config.g_optimizer.to_dict()),
        d_tx=make_optimizer(config.d_optimizer.to_dict()),
        latent_dim=m.latent_dim,
        data_shape=(d.image_size, d.image_size, d.channels),
        ema_decay=config.ema_decay,
        num_classes=m.num_classes,
        **recipe_from_config(config.gan.to_dict()),
    )


def make_data(config: ml_collections.ConfigDict, per_process_batch: int):
    """Training pipeline: seeded shuffle, per-process slice, scale to [-1, 1], optional flip.

    A step with `gan.n_critic` > 1 takes n_critic batches (one per D update), so it reads
    n_critic x `per_process_batch` examples."""
    d = config.dataset
    source = gdata.get_source(d.name, d.split, data_dir=d.data_dir or None, **_source_kwargs(d))
    transforms = [gdata.transforms.ScaleImage()]
    if d.random_flip:
        transforms.append(gdata.transforms.RandomFlip())
    transforms.append(gdata.transforms.SelectKeys(("image",)))
    keys = ("image", "label") if config.model.num_classes else ("image",)
    transforms[-1] = gdata.transforms.SelectKeys(keys)
    return gdata.make_pipeline(source, batch_size=per_process_batch * config.gan.n_critic, seed=config.seed,
                               transforms=transforms)


def _source_kwargs(d) -> dict:
    return {} if d.name.startswith("tfds:") else {"image_size": d.image_size}


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, mesh=None) -> dict[str, Any]:
    """Train DCGAN per `config` in `workdir` (resuming from its last checkpoint) and evaluate it."""
    t_start = time.time()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if jax.process_index() == 0:
        (workdir / "config.json").write_text(config.to_json_best_effort(indent=2, sort_keys=True))

    # ------------------------------------------------------------------ mesh
    mesh = mesh or make_mesh()
    per_process_batch = check_global_batch_size(config.batch_size, mesh)
    for key in ("num_sample_images", "eval.batch_size"):  # fail now, not at the first sample step
        value = config.num_sample_images if key == "num_sample_images" else config.eval.batch_size
        if value % mesh.devices.size:
            raise ValueError(f"{key}={value} must be a multiple of the device count {mesh.devices.size}")
    if config.eval.fid:
        fid_extractor(config)  # raises now if no feature extractor fits the dataset
    root = root_key(config.seed)

    # ------------------------------------------------------------------ data
    pipeline = make_data(config, per_process_batch)

    # ------------------------------------------------------------------ init
    setup = make_setup(config)
    state = create_gan_state(setup, stream_key(root, "init", 0), mesh)
    train_step = make_gan_train_step(setup, mesh)
    sampler = make_sampler(setup, mesh)
    sample_z = jax.random.normal(stream_key(root, "samples", 0), (config.num_sample_images, setup.latent_dim))

    # --------------------------------------------------------------- restore
    ckpt = Checkpointer(workdir / "ckpt", max_to_keep=config.keep_checkpoints)
    restored = ckpt.restore_latest(abstract_gan_state(setup, mesh))
    start_step, run_info = 0, {}
    if restored is not None:
        start_step, state, data_state, saved_config = restored
        pipeline.set_state(data_state["pipeline"])
        run_info = data_state["run_info"]
        if jax.process_index() == 0:
            print(f"resuming from step {start_step} in {ckpt.directory}", flush=True)
            warn_config_changes(saved_config, config)
    writer = MetricWriter(workdir, resume_step=start_step)

    if config.eval.fid and start_step == 0:
        run_info["fid_initial"] = evaluate_fid(config, setup, sampler, state, mesh, root)["fid"]
        writer.write_scalars(0, {"fid": run_info["fid_initial"]})
    metrics_out: dict[str, Any] = dict(run_info)

    # ------------------------------------------------------------------ loop
    buffer = MetricBuffer()
    last = config.num_steps
    t_log, last_logged = time.time(), start_step

    def log_buffered(step):
        nonlocal t_log, last_logged
        scalars = buffer.flush()  # raises NonFiniteError naming the first bad step and quantity
        scalars["steps_per_s"] = (step - last_logged) / max(time.time() - t_log, 1e-9)
        writer.write_scalars(step, scalars)
        t_log, last_logged = time.time(), step

    for step in tqdm(range(start_step + 1, last + 1), initial=start_step, total=last, desc="dcgan",
                     disable=jax.process_index() != 0, mininterval=5):
        batch = to_global_batch(next(pipeline), mesh)
        state, metrics = train_step(state, batch, root)
        buffer.add(step, metrics)
        if is_due(step, config.log_every, last):
            log_buffered(step)
        if config.eval.fid and config.eval.fid_every > 0 and step % config.eval.fid_every == 0 and step != last:
            writer.write_scalars(step, {"fid": evaluate_fid(config, setup, sampler, state, mesh, root)["fid"]})
        if config.sample_every > 0 and step % config.sample_every == 0:
            images = gather_to_host(sampler(state.g_ema, state.g_stats, sample_z))
            if jax.process_index() == 0:
                save_image_grid(images, workdir / f"samples_{step:07d}.png", scale=2)
            writer.write_images(step, "samples_ema", images)
        if is_due(step, config.checkpoint_every, last):
            if len(buffer):
                log_buffered(step)
            check_finite_tree(state, "state", step)  # never checkpoint a non-finite state
            ckpt.save(step, state, data_state={"pipeline": pipeline.get_state(), "run_info": run_info},
                      config=json.loads(config.to_json_best_effort()))
            t_log = time.time()  # keep checkpoint time out of steps_per_s
    pipeline.close()

    # ------------------------------------------------------------------ eval
    protocol: dict[str, Any] = {
        "dataset": config.dataset.name, "split": config.dataset.split,
        "image_size": config.dataset.image_size, "seed": config.seed, "steps": int(state.step),
        "global_batch_size": config.batch_size,
        "sampling": "generator in BatchNorm batch-statistics mode, fixed z grid from stream 'samples'",
    }
    if config.eval.fid:
        fid = evaluate_fid(config, setup, sampler, state, mesh, root)
        fid_ema = evaluate_fid(config, setup, sampler, state, mesh, root, use_ema=True)
        metrics_out.update(fid_final=fid["fid"], fid_final_ema=fid_ema["fid"])
        writer.write_scalars(int(state.step), {"fid": fid["fid"], "fid_ema": fid_ema["fid"]})
        protocol["fid"] = fid["protocol"]
        # Scale for the numbers above: the held-out real split scored like a generator.
        d = config.dataset
        ext = config.eval.feature_extractor or d.name
        ref = compute_fid(_real_stats(d.name, config.eval.real_split, d.image_size, d.data_dir or None, ext),
                          _real_stats(d.name, "test", d.image_size, d.data_dir or None, ext))
        metrics_out["fid_real_test_split"] = ref["fid"]
        protocol["fid_real_test_split"] = {"n_real": ref["protocol"]["n_real"], "n_fake": ref["protocol"]["n_fake"]}
    metrics_out["train_steps"] = int(state.step)
    images = gather_to_host(sampler(state.g_ema, state.g_stats, sample_z))  # a collective: every process
    if jax.process_index() == 0:
        save_image_grid(images, workdir / "samples_final.png", scale=2)
    write_results(workdir, metrics_out, protocol, json.loads(config.to_json_best_effort()),
                  wall_time_s=time.time() - t_start)
    writer.close()
    ckpt.close()
    sync_global_devices("dcgan_done")
    return {"metrics": metrics_out, "state": state}


def evaluate_fid(config, setup: GANSetup, sampler, state, mesh, root, use_ema: bool = False) -> dict:
    """FID of `config.eval.num_samples` generated images vs the whole real split, domain-classifier features.

    The same latent vectors (stream 'fid') are used at every evaluation, so FID at start and end
    differ only by the generator.
    """
    extractor = fid_extractor(config)
    d = config.dataset
    real = _real_stats(d.name, config.eval.real_split, d.image_size, d.data_dir or None,
                       config.eval.feature_extractor or d.name)
    fake = FeatureStats(extractor.feature_dim, {**extractor.protocol(), "source": "generator"})
    params = state.g_ema if use_ema else state.g_params
    bs, n = config.eval.batch_size, config.eval.num_samples
    for i in range(-(-n // bs)):
        z = jax.random.normal(stream_key(root, "fid", i), (bs, setup.latent_dim))
        images = gather_to_host(sampler(params, state.g_stats, z))[: n - i * bs]
        fake.update(extractor(images))
    return compute_fid(real, fake, {"generator": "ema" if use_ema else "raw", "sampling": "batch-stat BN",
                                    "eval_batch_size": bs, "z_stream": "fid"})


@functools.lru_cache(maxsize=4)
def _extractor(name: str):
    return get_feature_extractor(name)


def fid_extractor(config):
    """The FID feature extractor for the config's dataset: its domain classifier (`eval.feature_extractor`,
    default the dataset name: digits 32x32x1, shapes 32x32x3), checked against the image shape."""
    d = config.dataset
    name = config.eval.feature_extractor or d.name
    try:
        extractor = _extractor(name)
    except (ValueError, FileNotFoundError) as e:
        raise ValueError(f"eval.fid: no feature extractor {name!r} for dataset {d.name!r} ({e}); "
                         "set --config.eval.feature_extractor or --config.eval.fid=False") from e
    spec = extractor.input_spec
    if (d.image_size, d.image_size, d.channels) != (spec.height, spec.width, spec.channels):
        raise ValueError(f"eval.fid: feature extractor {name!r} expects {spec.describe()}; dataset {d.name!r} is "
                         f"{d.image_size}x{d.image_size}x{d.channels}. Set --config.eval.fid=False")
    return extractor


def warn_config_changes(saved: dict, config) -> None:
    """Print the keys whose values differ from the checkpoint's config (a resumed run uses the new ones)."""
    flat_old, flat_new = _flatten(saved), _flatten(json.loads(config.to_json_best_effort()))
    changed = sorted(k for k in set(flat_old) | set(flat_new) if flat_old.get(k) != flat_new.get(k))
    if changed:
        print("warning: config differs from the checkpoint's in " +
              ", ".join(f"{k}: {flat_old.get(k)!r} -> {flat_new.get(k)!r}" for k in changed), flush=True)


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


@functools.lru_cache(maxsize=8)
def _real_stats(name: str, split: str, image_size: int, data_dir: str | None, extractor_name: str) -> FeatureStats:
    extractor = _extractor(extractor_name)
    source = gdata.get_source(name, split, data_dir=data_dir, image_size=image_size)
    raw = {"image": np.stack([source[i]["image"] for i in range(len(source))])}
    images = gdata.transforms.ScaleImage().map(raw)["image"]  # the training pipeline's own scaling
    return stats_from_images(extractor, images, meta={"source": f"{name}:{split}"})
