"""ProGAN trainer (Karras et al. 2018, "Progressive Growing of GANs"): growing 4x4 -> R with fade-in, top to
bottom: config → schedule → data → init → restore → loop → eval.

Schedule (the paper's §2 and App. A, counted in images as the official lod_training_kimg /
lod_transition_kimg): stage 0 (4x4) trains for `progan.stable_images`; every later stage first fades its new
block in over `progan.transition_images` (α from 0 to 1, linear in images seen), then trains it stable for
`progan.stable_images`; the last stage stays until `num_steps`. The stage and α are pure functions of the
step (`stage_and_alpha`), α is also kept in the state, so a run killed during a fade-in resumes at the same
α. Each stage is its own compiled step (its resolution is a static shape); reals are box-downsampled to the
current resolution inside the step.

Loss: WGAN-GP (λ = `progan.gp_weight`, the paper's 10) plus the drift term ε_drift·E[D(x)²] (ε = 0.001,
App. A.1), or any GAN-zoo loss and penalty; Adam (paper: lr 0.001, β (0, 0.99), ε 1e-8); G EMA with decay
`ema_decay` (the official G smoothing 0.999). Evaluation as the StyleGAN trainer's (domain FID/KID/PR,
standard Inception) with the final-resolution G at α = 1.
"""

from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from genvision_jax.errors import ConfigError
from genvision_jax.losses.gan import get_gan_loss
from genvision_jax.losses.penalties import get_penalty
from genvision_jax.metrics.generative import scores_for_log
from genvision_jax.models.gan.progan import (ProGANDiscriminator, ProGANGenerator, downsample_box, num_stages,
                                             upsample_nearest)
from genvision_jax.tasks.gan_images import (final_scores, log_initial_scores, make_evaluator, make_standard_evaluator,
                                            write_sample_grid)
from genvision_jax.tasks.stylegan_images import make_data
from genvision_jax.train import make_optimizer
from genvision_jax.train.rng import stream_key
from genvision_jax.train.run import Run
from genvision_jax.train.sharding import constrain_batch, gather_to_host, replicated_sharding


@flax.struct.dataclass
class ProGANState:
    step: jax.Array
    g_params: Any
    d_params: Any
    g_opt: Any
    d_opt: Any
    g_ema: Any
    alpha: jax.Array    # the fade-in α of the last step taken (1 when stable)


def stage_and_alpha(step, batch_size: int, stable: int, transition: int, stages: int):
    """(stage, α) of training step `step` (0-based) from the images seen before it, step·batch.

    Works on Python ints (the host picks the compiled stage) and on arrays (α inside the step)."""
    images = step * batch_size
    period = stable + transition
    if isinstance(step, int):
        if images < stable or stages == 1:
            return 0, 1.0
        stage = min(stages - 1, 1 + (images - stable) // period)
        return stage, float(min(1.0, (images - stable - (stage - 1) * period) / max(transition, 1)))
    raise TypeError("stage_and_alpha takes a Python int step; use `alpha_in_stage` in the step")


def alpha_in_stage(step: jax.Array, stage: int, batch_size: int, stable: int, transition: int) -> jax.Array:
    """α at a traced step that is known to lie in `stage` (0 -> 1 over the stage's first `transition` images)."""
    if stage == 0:
        return jnp.ones((), jnp.float32)
    start = stable + (stage - 1) * (stable + transition)
    seen = step.astype(jnp.float32) * batch_size - start
    return jnp.clip(seen / max(transition, 1), 0.0, 1.0).astype(jnp.float32)


def make_setup(config: ml_collections.ConfigDict):
    d, m, p = config.dataset, config.model, config.progan
    try:
        generator = ProGANGenerator(d.image_size, d.channels, m.channel_base, m.channel_max, m.z_dim)
        discriminator = ProGANDiscriminator(d.image_size, d.channels, m.channel_base, m.channel_max, m.mbstd_group)
        stages = num_stages(d.image_size)
        loss = get_gan_loss(p.loss)
        penalty = get_penalty(p.penalty)
        g_tx = make_optimizer(config.g_optimizer.to_dict())
        d_tx = make_optimizer(config.d_optimizer.to_dict())
    except (ValueError, KeyError) as e:
        raise ConfigError(f"progan model / recipe / optimizer config: {e}") from None
    for key in ("stable_images", "transition_images"):
        if p[key] < 0 or (key == "stable_images" and p[key] < 1):
            raise ConfigError(f"progan.{key} must be >= {1 if key == 'stable_images' else 0}, got {p[key]}")
    if p.gp_weight < 0 or p.drift < 0 or not 0 <= config.ema_decay < 1:
        raise ConfigError(f"progan.gp_weight, progan.drift must be >= 0 and ema_decay in [0, 1), got "
                          f"{p.gp_weight}, {p.drift}, {config.ema_decay}")
    if config.batch_size % max(1, min(m.mbstd_group, config.batch_size)):
        raise ConfigError(f"batch_size={config.batch_size} must be a multiple of model.mbstd_group={m.mbstd_group}")
    return dict(G=generator, D=discriminator, stages=stages, loss=loss, penalty=penalty, g_tx=g_tx, d_tx=d_tx,
                recipe=p, batch_size=config.batch_size, ema_decay=config.ema_decay, z_dim=m.z_dim,
                image_shape=(d.image_size, d.image_size, d.channels))


def init_progan_state(setup, rng) -> ProGANState:
    kg, kd = jax.random.split(rng)
    g_params = setup["G"].init(kg, jnp.zeros((1, setup["z_dim"])))["params"]
    d_params = setup["D"].init(kd, jnp.zeros((1, *setup["image_shape"])))["params"]
    return ProGANState(step=jnp.zeros((), jnp.int32), g_params=g_params, d_params=d_params,
                       g_opt=setup["g_tx"].init(g_params), d_opt=setup["d_tx"].init(d_params),
                       g_ema=jax.tree.map(jnp.copy, g_params), alpha=jnp.ones((), jnp.float32))


def progan_step_fn(setup, stage: int, mesh=None):
    """`step(state, batch, root) -> (state, metrics)` at `stage`: D then G, as the paper (n_critic 1)."""
    G, D, loss, penalty, p = setup["G"], setup["D"], setup["loss"], setup["penalty"], setup["recipe"]
    constrain = (lambda x: x) if mesh is None else (lambda x: constrain_batch(x, mesh))
    factor = 2 ** (setup["stages"] - 1 - stage)

    def step(state: ProGANState, batch: dict, root: jax.Array):
        real = batch["image"]
        for _ in range(int(np.log2(factor))):
            real = downsample_box(real)
        b = real.shape[0]
        alpha = alpha_in_stage(state.step, stage, setup["batch_size"], p.stable_images, p.transition_images)
        kz, kg, kp = (stream_key(root, name, state.step) for name in ("latent", "g_update", "penalty"))
        z = constrain(jax.random.normal(kz, (b, setup["z_dim"]), real.dtype))
        fake = G.apply({"params": state.g_params}, z, stage=stage, alpha=alpha)

        def d_objective(params):
            def d_fn(x):
                return D.apply({"params": params}, x, stage=stage, alpha=alpha)
            real_logits, fake_logits = d_fn(real), d_fn(fake)
            d_loss, _ = loss(real_logits, fake_logits)
            pen = penalty(d_fn, real, fake, kp)
            drift = jnp.mean(jnp.square(real_logits))
            return d_loss + p.gp_weight * pen + p.drift * drift, (d_loss, pen, drift, real_logits, fake_logits)

        d_grads, (d_loss, pen, drift, real_logits, fake_logits) = jax.grad(d_objective, has_aux=True)(state.d_params)
        d_updates, d_opt = setup["d_tx"].update(d_grads, state.d_opt, state.d_params)
        d_params = optax.apply_updates(state.d_params, d_updates)

        z2 = constrain(jax.random.normal(kg, (b, setup["z_dim"]), real.dtype))

        def g_objective(params):
            logits = D.apply({"params": d_params}, G.apply({"params": params}, z2, stage=stage, alpha=alpha),
                             stage=stage, alpha=alpha)
            return loss(jnp.zeros_like(logits), logits)[1]

        g_loss, g_grads = jax.value_and_grad(g_objective)(state.g_params)
        g_updates, g_opt = setup["g_tx"].update(g_grads, state.g_opt, state.g_params)
        g_params = optax.apply_updates(state.g_params, g_updates)
        decay = setup["ema_decay"]
        g_ema = jax.tree.map(lambda e, q: q + decay * (e - q), state.g_ema, g_params)
        new = ProGANState(step=state.step + 1, g_params=g_params, d_params=d_params, g_opt=g_opt, d_opt=d_opt,
                          g_ema=g_ema, alpha=alpha)
        metrics = {"d_loss": d_loss, "g_loss": g_loss, "penalty": pen, "drift": drift, "alpha": alpha,
                   "stage": jnp.asarray(stage, jnp.float32), "d_real_logit": jnp.mean(real_logits),
                   "d_fake_logit": jnp.mean(fake_logits)}
        return new, metrics

    return step


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, mesh=None) -> dict[str, Any]:
    """Train ProGAN per `config` in `workdir` (resuming from its last checkpoint) and evaluate it."""
    run = Run(config, workdir, mesh=mesh, batch_keys=("batch_size", "eval.batch_size", "num_sample_images"))
    setup = make_setup(config)
    evaluator = make_evaluator(config)
    standard = make_standard_evaluator(config)
    pipeline = make_data(config, run.local_batch("batch_size"))
    p, last = config.progan, setup["stages"] - 1

    def schedule(step: int):
        return stage_and_alpha(step, config.batch_size, p.stable_images, p.transition_images, setup["stages"])

    state = run.init(lambda rng: init_progan_state(setup, rng))
    state = run.restore(state, data=pipeline)
    replicated = replicated_sharding(run.mesh)
    steps = {}
    G = setup["G"]
    full = config.dataset.image_size
    generate = jax.jit(lambda params, z, stage, alpha: G.apply({"params": params}, constrain_batch(z, run.mesh),
                                                               stage=stage, alpha=alpha),
                       static_argnames="stage")
    sample_z = jax.random.normal(run.key("samples"), (config.num_sample_images, setup["z_dim"]))

    def images_at(params, z, stage, alpha):
        x = generate(params, z, stage, jnp.asarray(alpha, jnp.float32))
        return np.clip(gather_to_host(upsample_nearest(x, full // x.shape[1]) if x.shape[1] < full else x), -1, 1)

    def evaluate(state, ema=False, with_=None):
        params, bs = (state.g_ema if ema else state.g_params), config.eval.batch_size
        sample = lambda i: images_at(params, jax.random.normal(run.key("fid", i), (bs, setup["z_dim"])),  # noqa: E731
                                     last, 1.0)
        return (with_ or evaluator)(sample, {"generator": "ema" if ema else "raw", "z_stream": "fid",
                                             "stage": last, "alpha": 1.0})

    def save_samples(name: str, step: int, stage: int, alpha: float) -> None:
        images = images_at(state.g_ema, sample_z, stage, alpha)
        write_sample_grid(run, images, name, step)

    if run.start_step == 0:
        log_initial_scores(run, state, evaluate, evaluator, standard)

    for step in run.steps():
        stage, alpha = schedule(step - 1)  # run.steps() yields 1-based step numbers; this is step - 1 taken
        if stage not in steps:
            steps[stage] = jax.jit(progan_step_fn(setup, stage, run.mesh), donate_argnums=0,
                                   out_shardings=(replicated, replicated))
        state, metrics = steps[stage](state, run.global_batch(next(pipeline)), run.root)
        run.record(step, metrics)
        if evaluator is not None and run.every(step, config.eval.fid_every) and step != run.num_steps and stage == last:
            with run.paused(state):
                run.log(step, scores_for_log(evaluate(state, ema=True), suffix="_ema"))
        if run.every(step, config.sample_every):
            with run.paused(state):
                save_samples(f"samples_{step:07d}.png", step, stage, alpha)
        run.checkpoint(step, state, data=pipeline)
    pipeline.close()

    final_stage, final_alpha = schedule(int(state.step) - 1) if int(state.step) else (0, 1.0)
    metrics_out: dict[str, Any] = dict(run.info.get("initial", {}))
    protocol: dict[str, Any] = {
        "dataset": config.dataset.name, "split": config.dataset.split, "image_size": full, "seed": config.seed,
        "steps": int(state.step), "global_batch_size": config.batch_size,
        "images_seen": int(state.step) * config.batch_size,
        "schedule": {"stable_images": p.stable_images, "transition_images": p.transition_images,
                     "final_stage": final_stage, "final_alpha": final_alpha},
        "sampling": f"final-resolution G (stage {last}, alpha 1), clamped to [-1, 1]",
    }
    with run.paused(state):
        final_scores(run, state, config, evaluate, evaluator, standard, metrics_out, protocol, standard_ema=True)
        save_samples("samples_final.png", int(state.step), last, 1.0)
    metrics_out.update({"train_steps": int(state.step), "train_time_s": run.train_time_s,
                        "final_stage": final_stage, "final_alpha": final_alpha})
    return run.finish(metrics_out, protocol, state=state)
