"""2-D mode collapse: config → data → init (seeds vmapped) → restore → fused loop → eval → results.

All `num_seeds` seeds train side by side: the shared GAN step (`gan_step_fn`) is vmapped over seeds and
`log_every` steps are fused into one `lax.scan`, so a run is one compiled program called a few times
(the models are tiny; Python dispatch would otherwise dominate). Real batches are drawn inside the scan
from the embedded `mixture2d` train split held on the device (stream 'data'). The models are far too
small to shard, so this study runs on one device.
"""

import functools
import json
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import matplotlib
import ml_collections
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from genvision_jax import data as gdata  # noqa: E402
from genvision_jax.metrics.mode_coverage import mode_coverage  # noqa: E402
from genvision_jax.models.gan.mlp import MLPDiscriminator, MLPGenerator  # noqa: E402
from genvision_jax.train import Checkpointer, make_optimizer, stream_key  # noqa: E402
from genvision_jax.train.checkpoint import sync_global_devices  # noqa: E402
from genvision_jax.train.gan import GANSetup, gan_step_fn, init_gan_state, make_sampler, recipe_from_config  # noqa: E402
from genvision_jax.train.loop import MetricBuffer, check_finite_tree  # noqa: E402
from genvision_jax.train.results import write_results  # noqa: E402
from genvision_jax.train.rng import root_key  # noqa: E402
from genvision_jax.train.writers import MetricWriter  # noqa: E402


def make_setup(config: ml_collections.ConfigDict) -> GANSetup:
    m = config.model
    return GANSetup(
        generator=MLPGenerator(latent_dim=m.latent_dim, data_dim=2, hidden=(m.g_hidden,) * m.g_layers),
        discriminator=MLPDiscriminator(data_dim=2, hidden=(m.d_hidden,) * m.d_layers, input_scale=m.d_input_scale,
                                       minibatch_std=m.minibatch_std,
                                       minibatch_discrimination=m.minibatch_discrimination),
        g_tx=make_optimizer(config.g_optimizer.to_dict()),
        d_tx=make_optimizer(config.d_optimizer.to_dict()),
        latent_dim=m.latent_dim, data_shape=(2,), data_key="point", ema_decay=0.999,
        **recipe_from_config(config.gan.to_dict()),
    )


@functools.lru_cache(maxsize=2)
def load_mixture(mixture: str, data_dir: str | None) -> tuple[np.ndarray, np.ndarray, float]:
    """(train points [N, 2] float32, mode centers [K, 2], mode std) of a mixture (cached: sweeps reuse it)."""
    source = gdata.get_source("mixture2d", "train", data_dir=data_dir, mixture=mixture)
    points = np.stack([r["point"] for r in source.__getitems__(range(len(source)))])
    meta = gdata.mixture2d.MIXTURES[mixture]
    return points, np.asarray(meta.centers), float(meta.std)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
    t_start = time.time()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.json").write_text(config.to_json_best_effort(indent=2, sort_keys=True))
    if config.num_steps % config.log_every or config.checkpoint_every % config.log_every:
        raise ValueError(f"num_steps ({config.num_steps}) and checkpoint_every ({config.checkpoint_every}) must be "
                         f"multiples of log_every ({config.log_every}), the number of steps fused per call")

    # ------------------------------------------------------------------ data
    points, centers, std = load_mixture(config.dataset.mixture, config.dataset.data_dir or None)
    points_dev = jnp.asarray(points)

    # ------------------------------------------------------------------ init
    setup = make_setup(config)
    seeds = [config.seed + i for i in range(config.num_seeds)]
    roots = jnp.stack([root_key(s) for s in seeds])
    states = jax.jit(jax.vmap(lambda r: init_gan_state(setup, stream_key(r, "init", 0))))(roots)
    step_fn = gan_step_fn(setup)
    per_step = config.batch_size * setup.n_critic

    def run_chunk(state, root):
        def body(state, _):
            idx = jax.random.randint(stream_key(root, "data", state.step), (per_step,), 0, points_dev.shape[0])
            return step_fn(state, {"point": points_dev[idx]}, root)
        state, metrics = jax.lax.scan(body, state, None, length=config.log_every)
        return state, jax.tree.map(jnp.mean, metrics)

    run_chunks = jax.jit(jax.vmap(run_chunk), donate_argnums=0)

    # --------------------------------------------------------------- restore
    ckpt = Checkpointer(workdir / "ckpt", max_to_keep=config.keep_checkpoints)
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device), states)
    restored = ckpt.restore_latest(abstract)
    start_step = 0
    if restored is not None:
        start_step, states, _, _ = restored
        print(f"resuming from step {start_step} in {ckpt.directory}", flush=True)
    writer = MetricWriter(workdir, resume_step=start_step)

    # ------------------------------------------------------------------ loop
    buffer = MetricBuffer()
    for step in range(start_step + config.log_every, config.num_steps + 1, config.log_every):
        t0 = time.time()
        states, metrics = run_chunks(states, roots)
        buffer.add(step, jax.tree.map(lambda v: jnp.mean(v), metrics))  # mean over seeds
        scalars = buffer.flush()  # raises NonFiniteError naming the step and quantity
        scalars["steps_per_s"] = config.log_every / max(time.time() - t0, 1e-9)
        writer.write_scalars(step, scalars)
        if step % config.checkpoint_every == 0 or step == config.num_steps:
            check_finite_tree(states, "state", step)
            ckpt.save(step, states, data_state={}, config=json.loads(config.to_json_best_effort()))

    # ------------------------------------------------------------------ eval
    sampler = make_sampler(setup, None)
    per_seed, samples = [], []
    for i, root in enumerate(roots):
        z = jax.random.normal(stream_key(root, "eval", 0), (config.eval.num_samples, setup.latent_dim))
        state_i = jax.tree.map(lambda x: x[i], states)
        x = np.asarray(sampler(state_i.g_params, state_i.g_stats, z))
        samples.append(x)
        per_seed.append(mode_coverage(x, centers, std, num_std=config.eval.num_std, min_count=config.eval.min_count))
    metrics_out: dict[str, Any] = {}
    for key in ("modes_covered", "high_quality", "kl_modes"):
        values = [r[key] for r in per_seed]
        metrics_out[key] = float(np.mean(values))
        metrics_out[f"{key}_std"] = float(np.std(values))
        metrics_out[f"{key}_per_seed"] = values
    metrics_out["num_modes"] = len(centers)
    np.savez_compressed(workdir / "samples.npz", samples=np.stack(samples), centers=centers, seeds=np.asarray(seeds))
    plot_samples(np.stack(samples), centers, workdir / "samples.png",
                 titles=[f"seed {s}: {r['modes_covered']}/{len(centers)} modes" for s, r in zip(seeds, per_seed)])
    protocol = {
        "dataset": f"mixture2d/{config.dataset.mixture}", "split": "train", "seeds": seeds,
        "steps": config.num_steps, "batch_size": config.batch_size,
        "num_samples": config.eval.num_samples, "high_quality_radius": f"{config.eval.num_std} std",
        "mode_covered_if": f">= {config.eval.min_count} high-quality samples",
        "generator": "raw G params (not EMA)",
    }
    write_results(workdir, metrics_out, protocol, json.loads(config.to_json_best_effort()),
                  wall_time_s=time.time() - t_start)
    writer.close()
    ckpt.close()
    sync_global_devices("gan_mode_collapse_done")
    return {"metrics": metrics_out, "states": states}


def plot_samples(samples: np.ndarray, centers: np.ndarray, path, titles=None, limit: float | None = None) -> None:
    """One scatter panel per row of `samples` [P, N, 2], mode centers marked, to a PNG."""
    n = len(samples)
    limit = limit or float(np.abs(centers).max()) * 1.5
    fig, axes = plt.subplots(1, n, figsize=(2.6 * n, 2.8), squeeze=False)
    for i, ax in enumerate(axes[0]):
        ax.scatter(samples[i, :, 0], samples[i, :, 1], s=1, alpha=0.4, color="tab:blue", rasterized=True)
        ax.scatter(centers[:, 0], centers[:, 1], s=12, marker="x", color="tab:red")
        ax.set_xlim(-limit, limit)
        ax.set_ylim(-limit, limit)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        if titles:
            ax.set_title(titles[i], fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_sweep(runs: list[dict], out_dir) -> None:
    """samples_<mixture>.png: the first seed's samples of every loss (rows) x remedy (cols)."""
    out_dir = Path(out_dir)
    for mixture in sorted({r["labels"]["mixture"] for r in runs}):
        sub = [r for r in runs if r["labels"]["mixture"] == mixture]
        losses = list(dict.fromkeys(r["labels"]["loss"] for r in sub))
        remedies = list(dict.fromkeys(r["labels"]["remedy"] for r in sub))
        fig, axes = plt.subplots(len(losses), len(remedies), figsize=(1.6 * len(remedies), 1.6 * len(losses)),
                                 squeeze=False)
        for i, loss in enumerate(losses):
            for j, remedy in enumerate(remedies):
                ax = axes[i, j]
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0:
                    ax.set_title(remedy, fontsize=7)
                if j == 0:
                    ax.set_ylabel(loss, fontsize=7)
                match = [r for r in sub if r["labels"]["loss"] == loss and r["labels"]["remedy"] == remedy]
                path = Path(match[0]["dirs"][0]) / "samples.npz" if match else None
                if path is None or not path.exists():
                    label = "n/a" if not match else ("failed" if match[0]["failed"] else "not run")
                    ax.text(0.5, 0.5, label, ha="center", va="center", fontsize=7, transform=ax.transAxes)
                    continue
                data = np.load(path)
                centers, x = data["centers"], data["samples"][0]
                limit = float(np.abs(centers).max()) * 1.5
                ax.scatter(x[:, 0], x[:, 1], s=0.3, alpha=0.3, color="tab:blue", rasterized=True)
                ax.scatter(centers[:, 0], centers[:, 1], s=4, marker="x", color="tab:red", linewidths=0.5)
                ax.set_xlim(-limit, limit)
                ax.set_ylim(-limit, limit)
                ax.set_aspect("equal")
        fig.tight_layout()
        fig.savefig(out_dir / f"samples_{mixture}.png", dpi=100)
        plt.close(fig)
