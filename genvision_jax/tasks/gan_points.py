"""2-D GAN trainer (mode collapse on Gaussian mixtures): config → data → init (seeds vmapped) → restore →
fused loop → eval → results.

All `num_seeds` seeds train side by side: the shared GAN step (`genvision_jax.tasks.gan.gan_step_fn`)
is vmapped over seeds and `log_every` steps are fused into one `lax.scan`, so a run is one compiled
program called a few times (the models are tiny; Python dispatch would otherwise dominate). Real
batches are drawn inside the scan from the embedded `mixture2d` train split held on the device
(stream 'data' of each seed), split along the mesh's 'data' axis like every batch made in a step.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import matplotlib
import ml_collections
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from genvision_jax import data as gdata  # noqa: E402
from genvision_jax.errors import ConfigError  # noqa: E402
from genvision_jax.metrics.mode_coverage import mode_coverage  # noqa: E402
from genvision_jax.models.gan.mlp import MLPDiscriminator, MLPGenerator  # noqa: E402
from genvision_jax.tasks.gan import GANSetup, gan_step_fn, init_gan_state, make_sampler, recipe_from_config  # noqa: E402
from genvision_jax.train import make_optimizer  # noqa: E402
from genvision_jax.train.rng import root_key, stream_key  # noqa: E402
from genvision_jax.train.run import Run  # noqa: E402
from genvision_jax.train.sharding import constrain_batch  # noqa: E402


def make_setup(config: ml_collections.ConfigDict) -> GANSetup:
    m = config.model
    try:
        g_tx, d_tx = make_optimizer(config.g_optimizer.to_dict()), make_optimizer(config.d_optimizer.to_dict())
    except (ValueError, KeyError) as e:
        raise ConfigError(f"optimizer config: {e}") from None
    return GANSetup(
        generator=MLPGenerator(latent_dim=m.latent_dim, data_dim=2, hidden=(m.g_hidden,) * m.g_layers),
        discriminator=MLPDiscriminator(data_dim=2, hidden=(m.d_hidden,) * m.d_layers, input_scale=m.d_input_scale,
                                       minibatch_std=m.minibatch_std,
                                       minibatch_discrimination=m.minibatch_discrimination),
        g_tx=g_tx, d_tx=d_tx, latent_dim=m.latent_dim, data_shape=(2,), data_key="point", ema_decay=0.999,
        **recipe_from_config(config.gan.to_dict()),
    )


@functools.lru_cache(maxsize=2)
def load_mixture(mixture: str, data_dir: str | None) -> tuple[np.ndarray, np.ndarray, float]:
    """(train points [N, 2] float32, mode centers [K, 2], mode std) of a mixture (cached: sweeps reuse it)."""
    source = gdata.get_source("mixture2d", "train", data_dir=data_dir, mixture=mixture)
    points = np.stack([r["point"] for r in source.__getitems__(range(len(source)))])
    return points, np.asarray(source.metadata["centers"]), float(source.metadata["std"])


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, mesh=None) -> dict[str, Any]:
    run = Run(config, workdir, mesh=mesh, batch_keys=("batch_size",), steps_per_call=config.log_every)
    setup = make_setup(config)
    points, centers, std = load_mixture(config.dataset.mixture, config.dataset.data_dir or None)
    points_dev = jnp.asarray(points)

    # ------------------------------------------------------------------ init and restore
    seeds = [config.seed + i for i in range(config.num_seeds)]
    roots = jnp.stack([root_key(s) for s in seeds])
    state = run.init(lambda _: jax.vmap(lambda r: init_gan_state(setup, stream_key(r, "init", 0)))(roots))
    state = run.restore(state)
    step_fn = gan_step_fn(setup, run.mesh)
    per_step = config.batch_size * setup.n_critic

    def run_chunk(state, root):
        def body(state, _):
            idx = jax.random.randint(stream_key(root, "data", state.step), (per_step,), 0, points_dev.shape[0])
            return step_fn(state, {"point": constrain_batch(points_dev[idx], run.mesh)}, root)
        state, metrics = jax.lax.scan(body, state, None, length=config.log_every)
        return state, jax.tree.map(jnp.mean, metrics)

    run_chunks = jax.jit(jax.vmap(run_chunk), donate_argnums=0)

    # ------------------------------------------------------------------ loop (log_every steps per call)
    for step in run.steps():
        state, metrics = run_chunks(state, roots)
        run.record(step, jax.tree.map(jnp.mean, metrics))  # mean over seeds
        run.checkpoint(step, state)

    # ------------------------------------------------------------------ eval
    with run.paused(state):
        sampler = make_sampler(setup, None)
        per_seed, samples = [], []
        for i, root in enumerate(roots):
            z = jax.random.normal(stream_key(root, "eval", 0), (config.eval.num_samples, setup.latent_dim))
            state_i = jax.tree.map(lambda x: x[i], state)
            x = np.asarray(sampler(state_i.g_params, state_i.g_stats, z))
            samples.append(x)
            per_seed.append(mode_coverage(x, centers, std, num_std=config.eval.num_std,
                                          min_count=config.eval.min_count))
        metrics_out: dict[str, Any] = {}
        for key in ("modes_covered", "high_quality", "kl_modes"):
            values = [r[key] for r in per_seed]
            metrics_out[key] = float(np.mean(values))
            metrics_out[f"{key}_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
            metrics_out[f"{key}_per_seed"] = values
        metrics_out["num_modes"] = len(centers)
        if jax.process_index() == 0:
            np.savez_compressed(run.workdir / "samples.npz", samples=np.stack(samples), centers=centers,
                                seeds=np.asarray(seeds))
            plot_samples(np.stack(samples), centers, run.workdir / "samples.png",
                         titles=[f"seed {s}: {r['modes_covered']}/{len(centers)} modes" for s, r in zip(seeds, per_seed)])
    protocol = {
        "dataset": f"mixture2d/{config.dataset.mixture}", "split": "train", "seeds": seeds,
        "steps": config.num_steps, "batch_size": config.batch_size,
        "num_samples": config.eval.num_samples, "high_quality_radius": f"{config.eval.num_std} std",
        "mode_covered_if": f">= {config.eval.min_count} high-quality samples",
        "generator": "raw G params (not EMA)", "std": "sample standard deviation over seeds (ddof=1)",
    }
    return run.finish(metrics_out, protocol, state=state)


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
