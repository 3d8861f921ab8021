"""The GAN family's state, step and recipe, shared by the image and 2-D GAN trainers.

One step follows the classic alternating recipe (Goodfellow et al. 2014; DCGAN): draw z, generate
G(z) once, update D on (x, G(z)), then update G through the updated D, then the EMA of G. The G
forward pass is done once with `jax.vjp`, and its pullback is reused for the G update — the same
arithmetic as PyTorch's `fake = G(z)` followed by `D(fake.detach())` and `D(fake)`, without a second
G forward.
"""

import dataclasses
from typing import Any, Callable, Mapping

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from genvision_jax.errors import ConfigError, UserError
from genvision_jax.losses.gan import GANLoss, get_gan_loss
from genvision_jax.losses.penalties import Penalty, get_penalty, lazy_penalty
from genvision_jax.train.ema import ema_update
from genvision_jax.train.rng import stream_key
from genvision_jax.train.sharding import constrain_batch, replicated_sharding


@flax.struct.dataclass
class GANState:
    step: jax.Array
    g_params: Any
    g_stats: Any
    d_params: Any
    d_stats: Any
    g_opt: Any
    d_opt: Any
    g_ema: Any


@dataclasses.dataclass(frozen=True)
class GANSetup:
    """The static half of a GAN run: modules, optimizers, objective and the training recipe.

    The recipe fields are the interchangeable parts of compare_gan-style studies; their defaults are
    the plain DCGAN step. G is called as `G(z, y, train=...)`, D as `D(x, y, train=...) -> logits[N]`
    (y = int labels when `num_classes > 0`, else None); D sows its penultimate features under
    ('intermediates', 'features') for feature matching.
    """

    generator: nn.Module
    discriminator: nn.Module
    g_tx: optax.GradientTransformation
    d_tx: optax.GradientTransformation
    loss: GANLoss
    latent_dim: int
    data_shape: tuple[int, ...]      # one sample, e.g. (H, W, C) for images or (2,) for points
    ema_decay: float = 0.999
    data_key: str = "image"          # the batch entry holding real samples
    num_classes: int = 0             # > 0: class-conditional G and D; batches carry 'label'
    penalty: Penalty | None = None   # gradient penalty on D (losses/penalties.py)
    penalty_weight: float = 0.0      # λ (WGAN-GP, DRAGAN) or γ (R1, R2)
    penalty_every: int = 1           # lazy regularization interval k (Karras et al. 2020)
    n_critic: int = 1                # D updates per G update (Arjovsky et al. 2017: 5); batch = n_critic x B
    d_clip: float = 0.0              # WGAN weight clipping to [-c, c] after each D update; 0 = off
    feature_matching: bool = False   # G minimizes ||E f(x) − E f(G(z))||² (Salimans et al. 2016 §3.1)
    instance_noise: float = 0.0      # σ of Gaussian noise on D's inputs (Sønderby et al. 2017)
    instance_noise_anneal_steps: int = 0  # σ decays linearly to 0 over this many steps; 0 = constant
    unrolled_steps: int = 0          # k unrolled D updates inside the G loss (Metz et al. 2017)

    def __post_init__(self):
        for name in ("n_critic", "penalty_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"gan.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("unrolled_steps", "instance_noise_anneal_steps", "num_classes"):
            if getattr(self, name) < 0:
                raise ConfigError(f"gan.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("penalty_weight", "d_clip", "instance_noise"):
            if getattr(self, name) < 0:
                raise ConfigError(f"gan.{name} must be >= 0, got {getattr(self, name)}")
        if self.penalty_weight > 0 and self.penalty is None:
            raise ConfigError("gan.penalty_weight > 0 needs a penalty (gan.penalty)")


def _split_vars(variables) -> tuple[Any, Any]:
    return variables["params"], variables.get("batch_stats", {})


def _labels_or_none(setup: GANSetup, n: int):
    return jnp.zeros((n,), jnp.int32) if setup.num_classes else None


def init_gan_state(setup: GANSetup, rng: jax.Array) -> GANState:
    """Unsharded init (wrap with `create_gan_state` for a mesh)."""
    kg, kd = jax.random.split(rng)
    y = _labels_or_none(setup, 1)
    g_params, g_stats = _split_vars(setup.generator.init(kg, jnp.zeros((1, setup.latent_dim)), y, train=False))
    d_params, d_stats = _split_vars(setup.discriminator.init(kd, jnp.zeros((1, *setup.data_shape)), y, train=False))
    return GANState(
        step=jnp.zeros((), jnp.int32),
        g_params=g_params, g_stats=g_stats, d_params=d_params, d_stats=d_stats,
        g_opt=setup.g_tx.init(g_params), d_opt=setup.d_tx.init(d_params),
        g_ema=jax.tree.map(jnp.copy, g_params),
    )


def _check_batch(batch: dict, setup: GANSetup) -> tuple[jax.Array, jax.Array | None]:
    key, shape = setup.data_key, tuple(setup.data_shape)
    if key not in batch:
        raise KeyError(f"GAN batch has no {key!r} entry; got keys {sorted(batch)}")
    x = batch[key]
    if x.ndim != 1 + len(shape) or tuple(x.shape[1:]) != shape:
        raise ValueError(f"batch[{key!r}] must have shape [N, {', '.join(map(str, shape))}], got {tuple(x.shape)}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"batch[{key!r}] must be floating point (images in [-1, 1]), got dtype {x.dtype}")
    if x.shape[0] % setup.n_critic:
        raise ValueError(f"batch size {x.shape[0]} must be a multiple of n_critic={setup.n_critic} "
                         "(each D update takes its own slice of the batch)")
    y = None
    if setup.num_classes:
        if "label" not in batch:
            raise KeyError(f"a conditional GAN (num_classes={setup.num_classes}) needs a 'label' entry in the batch")
        y = batch["label"].astype(jnp.int32)
    return x, y


def _chunks(x: jax.Array, n: int) -> jax.Array:
    """[n·B, ...] -> [n, B, ...] taking every n-th row, so each chunk keeps the batch's data sharding."""
    return jnp.swapaxes(x.reshape(x.shape[0] // n, n, *x.shape[1:]), 0, 1)


def gan_step_fn(setup: GANSetup, mesh: Mesh | None = None) -> Callable:
    """The pure (unjitted) `step(state, batch, root_key) -> (state, metrics)`.

    One step = `n_critic` D updates, each on its own slice of the batch and its own z, then one G
    update through the updated D. The last D update and the G update share one G forward (`jax.vjp`);
    earlier D updates draw their fakes with a plain forward. With `mesh=None` no sharding constraints
    are added, so the function can be vmapped (e.g. over seeds) and scanned.
    """
    G, D, loss = setup.generator, setup.discriminator, setup.loss
    # Relativistic losses compare fakes with D(x) of the current D in the G loss (GANLoss attribute).
    reads_real = setup.feature_matching or getattr(loss, "g_uses_real_logits", False)
    constrain = (lambda x: x) if mesh is None else (lambda x: constrain_batch(x, mesh))

    def d_apply(d_params, d_stats, x, y, features=False):
        cols = ["batch_stats", "intermediates"] if features else ["batch_stats"]
        logits, mut = D.apply({"params": d_params, "batch_stats": d_stats}, x, y, train=True, mutable=cols)
        feats = mut["intermediates"]["features"][0] if features else None
        return logits, mut.get("batch_stats", {}), feats

    def g_apply(g_params, g_stats, z, y):
        fake, mut = G.apply({"params": g_params, "batch_stats": g_stats}, z, y, train=True, mutable=["batch_stats"])
        return fake, mut.get("batch_stats", {})

    def noisy(x, sigma, key):
        return x + sigma * jax.random.normal(key, x.shape, x.dtype) if setup.instance_noise > 0 else x

    def d_update(d_params, d_opt, d_stats, real, fake, y_real, y_fake, sigma, key, d_iter, with_penalty=True):
        """One D step on (real, fake). `fake` is differentiable input (unrolled G loss)."""
        k_real, k_fake, k_pen = jax.random.split(key, 3)
        real_in, fake_in = noisy(real, sigma, k_real), noisy(fake, sigma, k_fake)

        def objective(p):
            real_logits, stats, _ = d_apply(p, d_stats, real_in, y_real)
            fake_logits, stats, _ = d_apply(p, stats, fake_in, y_fake)
            d_loss, _ = loss(real_logits, fake_logits)
            pen = jnp.zeros((), d_loss.dtype)
            if with_penalty and setup.penalty is not None and setup.penalty_weight > 0:
                # The penalty's own D calls must not move the BN running statistics.
                def d_fn(v, y=y_real):
                    return d_apply(p, stats, v, y)[0]
                pen = lazy_penalty(setup.penalty, setup.penalty_every, d_iter)(
                    d_fn, real_in, jax.lax.stop_gradient(fake_in), k_pen)
            return d_loss + setup.penalty_weight * pen, (stats, d_loss, pen, real_logits, fake_logits)

        grads, (stats, d_loss, pen, real_logits, fake_logits) = jax.grad(objective, has_aux=True)(d_params)
        updates, d_opt = setup.d_tx.update(grads, d_opt, d_params)
        d_params = optax.apply_updates(d_params, updates)
        if setup.d_clip > 0:
            d_params = jax.tree.map(lambda w: jnp.clip(w, -setup.d_clip, setup.d_clip), d_params)
        aux = {"d_loss": d_loss, "penalty": pen, "d_real_logit": jnp.mean(real_logits),
               "d_fake_logit": jnp.mean(fake_logits), "d_grad_norm": optax.tree.norm(grads)}
        return d_params, d_opt, stats, aux

    def step(state: GANState, batch: dict, root: jax.Array):
        real_all, y_all = _check_batch(batch, setup)
        nc = setup.n_critic
        b = real_all.shape[0] // nc
        real_chunks = _chunks(real_all, nc)
        y_real_chunks = _chunks(y_all, nc) if y_all is not None else None
        z_all = constrain(jax.random.normal(stream_key(root, "noise", state.step), (nc, b, setup.latent_dim),
                                            real_all.dtype).reshape(nc * b, setup.latent_dim))
        z_chunks = _chunks(z_all, nc)
        y_fake_chunks = None
        if setup.num_classes:
            y_fake_chunks = _chunks(constrain(jax.random.randint(
                stream_key(root, "fake_labels", state.step), (nc * b,), 0, setup.num_classes)), nc)
        pick = lambda chunks, i: None if chunks is None else chunks[i]  # noqa: E731
        d_keys = jax.random.split(stream_key(root, "d_update", state.step), nc)
        if setup.instance_noise > 0 and setup.instance_noise_anneal_steps > 0:
            frac = jnp.clip(1.0 - state.step / setup.instance_noise_anneal_steps, 0.0, 1.0)
            sigma = setup.instance_noise * frac
        else:
            sigma = jnp.asarray(setup.instance_noise, real_all.dtype)

        # --- D updates 1 .. n_critic-1 on their own fakes (no G gradient needed).
        d_params, d_opt, d_stats, g_stats = state.d_params, state.d_opt, state.d_stats, state.g_stats
        if nc > 1:
            def critic(carry, i):
                d_params, d_opt, d_stats, g_stats = carry
                fake, g_stats = g_apply(state.g_params, g_stats, z_chunks[i], pick(y_fake_chunks, i))
                d_params, d_opt, d_stats, _ = d_update(
                    d_params, d_opt, d_stats, real_chunks[i], fake, pick(y_real_chunks, i),
                    pick(y_fake_chunks, i), sigma, d_keys[i], state.step * nc + i)
                return (d_params, d_opt, d_stats, g_stats), None
            (d_params, d_opt, d_stats, g_stats), _ = jax.lax.scan(
                critic, (d_params, d_opt, d_stats, g_stats), jnp.arange(nc - 1))

        # --- Last D update and the G update share one G forward.
        last = nc - 1
        real, y_real, y_fake = real_chunks[last], pick(y_real_chunks, last), pick(y_fake_chunks, last)
        fake, g_pullback, g_stats = jax.vjp(
            lambda p: g_apply(p, g_stats, z_chunks[last], y_fake), state.g_params, has_aux=True)
        d_params, d_opt, d_stats, d_aux = d_update(
            d_params, d_opt, d_stats, real, jax.lax.stop_gradient(fake), y_real, y_fake, sigma,
            d_keys[last], state.step * nc + last)

        # --- G update through the updated (or k-step unrolled) D.
        k_g_real, k_g_fake = jax.random.split(stream_key(root, "g_update", state.step))

        def g_objective(fake_images):
            p, opt, stats = d_params, d_opt, d_stats
            for u in range(setup.unrolled_steps):
                # Metz et al. 2017: the surrogate loss differentiates through the D updates.
                p, opt, stats, _ = d_update(p, opt, stats, real, fake_images, y_real, y_fake, sigma,
                                            jax.random.fold_in(d_keys[last], u + 1), 0, with_penalty=False)
            real_logits = real_feats = None
            if reads_real:
                real_logits, stats, real_feats = d_apply(p, stats, noisy(real, sigma, k_g_real), y_real,
                                                         features=setup.feature_matching)
                real_logits = jax.lax.stop_gradient(real_logits)
            fake_logits, stats, fake_feats = d_apply(p, stats, noisy(fake_images, sigma, k_g_fake), y_fake,
                                                     features=setup.feature_matching)
            if setup.feature_matching:
                diff = jnp.mean(jax.lax.stop_gradient(real_feats), axis=0) - jnp.mean(fake_feats, axis=0)
                g_loss = jnp.sum(jnp.square(diff))
            else:
                _, g_loss = loss(real_logits if reads_real else jnp.zeros_like(fake_logits), fake_logits)
            return g_loss, stats

        (g_loss, g_d_stats), dfake = jax.value_and_grad(g_objective, has_aux=True)(fake)
        if not setup.unrolled_steps:
            d_stats = g_d_stats  # unrolled copies of D are discarded, their BN statistics too
        (g_grads,) = g_pullback(dfake)
        g_updates, g_opt = setup.g_tx.update(g_grads, state.g_opt, state.g_params)
        g_params = optax.apply_updates(state.g_params, g_updates)

        new_state = GANState(
            step=state.step + 1, g_params=g_params, g_stats=g_stats, d_params=d_params, d_stats=d_stats,
            g_opt=g_opt, d_opt=d_opt, g_ema=ema_update(state.g_ema, g_params, setup.ema_decay),
        )
        metrics = {**d_aux, "g_loss": g_loss, "g_grad_norm": optax.tree.norm(g_grads)}
        return new_state, metrics

    return step


def make_gan_train_step(setup: GANSetup, mesh: Mesh) -> Callable:
    """Returns jitted `step(state, batch, root_key) -> (state, metrics)`; the state is donated."""
    # Pinned output shardings: fresh and restored runs execute the same program.
    replicated = replicated_sharding(mesh)
    return jax.jit(gan_step_fn(setup, mesh), donate_argnums=0, out_shardings=(replicated, replicated))


def make_sampler(setup: GANSetup, mesh: Mesh | None) -> Callable:
    """Jitted `sample(g_params, g_stats, z, y=None) -> samples` with BatchNorm in batch-statistics mode.

    DCGAN-style generators are sampled as they were trained (BN on the sample batch), so FID is
    measured on batches of the training batch size or larger; the running averages are not used.
    `y` (int labels [N]) is required for conditional generators.
    """
    def sample(g_params, g_stats, z, y=None):
        if setup.num_classes and y is None:
            raise ValueError(f"a conditional generator (num_classes={setup.num_classes}) needs labels y")
        if mesh is not None:
            z = constrain_batch(z, mesh)
        samples, _ = setup.generator.apply({"params": g_params, "batch_stats": g_stats}, z, y, train=True,
                                           mutable=["batch_stats"])
        return samples

    return jax.jit(sample)


RECIPE_DEFAULTS = {
    "loss": "non_saturating", "real_label": 1.0, "penalty": "none", "penalty_weight": 0.0, "penalty_every": 1,
    "n_critic": 1, "d_clip": 0.0, "feature_matching": False, "instance_noise": 0.0,
    "instance_noise_anneal_steps": 0, "unrolled_steps": 0,
}


def recipe_from_config(recipe: Mapping[str, Any]) -> dict[str, Any]:
    """GANSetup keyword arguments from a config's `gan` section (names as in `RECIPE_DEFAULTS`).

    Unknown keys are an error (a typo must not silently train the default recipe).
    """
    unknown = sorted(set(recipe) - set(RECIPE_DEFAULTS))
    if unknown:
        raise ConfigError(f"unknown GAN recipe key(s) {unknown}; valid keys: {sorted(RECIPE_DEFAULTS)}")
    r = {**RECIPE_DEFAULTS, **dict(recipe)}
    out = {k: r[k] for k in ("penalty_weight", "penalty_every", "n_critic", "d_clip", "feature_matching",
                             "instance_noise", "instance_noise_anneal_steps", "unrolled_steps")}
    try:
        out["loss"] = get_gan_loss(r["loss"], real_label=float(r["real_label"]))
    except (UserError, ValueError) as e:
        raise ConfigError(f"gan.loss={r['loss']!r}, gan.real_label={r['real_label']!r}: {e}") from None
    try:
        out["penalty"] = None if r["penalty"] == "none" else get_penalty(r["penalty"])
    except (UserError, ValueError) as e:
        raise ConfigError(f"gan.penalty={r['penalty']!r}: {e}") from None
    if out["penalty"] is None and r["penalty_weight"]:
        raise ConfigError(f"gan.penalty_weight={r['penalty_weight']} but gan.penalty='none'")
    return out
