"""GAN train state and the jitted D-then-G step shared by GAN experiments.

One step follows the classic alternating recipe (Goodfellow et al. 2014; DCGAN): draw z, generate
G(z) once, update D on (x, G(z)), then update G through the updated D, then the EMA of G. The G
forward pass is done once with `jax.vjp`, and its pullback is reused for the G update — the same
arithmetic as PyTorch's `fake = G(z)` followed by `D(fake.detach())` and `D(fake)`, without a second
G forward.
"""

import dataclasses
from typing import Any, Callable

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from genvision_jax.losses.gan import GANLoss
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
    """The static half of a GAN run: modules, optimizers, objective, latent size, EMA decay."""

    generator: nn.Module
    discriminator: nn.Module
    g_tx: optax.GradientTransformation
    d_tx: optax.GradientTransformation
    loss: GANLoss
    latent_dim: int
    image_shape: tuple[int, int, int]  # (H, W, C)
    ema_decay: float = 0.999


def _split_vars(variables) -> tuple[Any, Any]:
    return variables["params"], variables.get("batch_stats", {})


def init_gan_state(setup: GANSetup, rng: jax.Array) -> GANState:
    """Unsharded init (wrap with `create_gan_state` for a mesh)."""
    kg, kd = jax.random.split(rng)
    g_params, g_stats = _split_vars(setup.generator.init(kg, jnp.zeros((1, setup.latent_dim)), train=False))
    d_params, d_stats = _split_vars(setup.discriminator.init(kd, jnp.zeros((1, *setup.image_shape)), train=False))
    return GANState(
        step=jnp.zeros((), jnp.int32),
        g_params=g_params, g_stats=g_stats, d_params=d_params, d_stats=d_stats,
        g_opt=setup.g_tx.init(g_params), d_opt=setup.d_tx.init(d_params),
        g_ema=jax.tree.map(jnp.copy, g_params),
    )


def create_gan_state(setup: GANSetup, rng: jax.Array, mesh: Mesh) -> GANState:
    """State created directly with replicated sharding on the mesh (never materialized on one device)."""
    return jax.jit(lambda r: init_gan_state(setup, r), out_shardings=replicated_sharding(mesh))(rng)


def abstract_gan_state(setup: GANSetup, mesh: Mesh) -> GANState:
    """Shapes, dtypes and shardings of the state: the target for checkpoint restores."""
    shapes = jax.eval_shape(lambda r: init_gan_state(setup, r), jax.random.key(0))
    sharding = replicated_sharding(mesh)
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), shapes)


def _check_batch(batch: dict, image_shape: tuple[int, int, int]) -> jax.Array:
    if "image" not in batch:
        raise KeyError(f"GAN batch needs an 'image' entry, got keys {sorted(batch)}")
    x = batch["image"]
    if x.ndim != 4 or tuple(x.shape[1:]) != tuple(image_shape):
        raise ValueError(f"batch['image'] must have shape [N, {', '.join(map(str, image_shape))}], got {tuple(x.shape)}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"batch['image'] must be floating point in [-1, 1], got dtype {x.dtype}")
    return x


def make_gan_train_step(setup: GANSetup, mesh: Mesh) -> Callable:
    """Returns jitted `step(state, batch, root_key) -> (state, metrics)`; the state is donated."""
    G, D, loss = setup.generator, setup.discriminator, setup.loss

    def step(state: GANState, batch: dict, root: jax.Array):
        real = _check_batch(batch, setup.image_shape)
        n = real.shape[0]
        z = jax.random.normal(stream_key(root, "noise", state.step), (n, setup.latent_dim), real.dtype)
        z = constrain_batch(z, mesh)

        def g_forward(g_params):
            fake, mut = G.apply({"params": g_params, "batch_stats": state.g_stats}, z, train=True,
                                mutable=["batch_stats"])
            return fake, mut["batch_stats"]

        fake, g_pullback, g_stats = jax.vjp(g_forward, state.g_params, has_aux=True)

        # --- D update on (x, G(z)); BN running stats see the real then the fake batch.
        def d_objective(d_params):
            real_logits, mut = D.apply({"params": d_params, "batch_stats": state.d_stats}, real, train=True,
                                       mutable=["batch_stats"])
            fake_logits, mut = D.apply({"params": d_params, "batch_stats": mut["batch_stats"]},
                                       jax.lax.stop_gradient(fake), train=True, mutable=["batch_stats"])
            d_loss, _ = loss(real_logits, fake_logits)
            return d_loss, (mut["batch_stats"], real_logits, fake_logits)

        (d_loss, (d_stats, real_logits, fake_logits)), d_grads = jax.value_and_grad(
            d_objective, has_aux=True)(state.d_params)
        d_updates, d_opt = setup.d_tx.update(d_grads, state.d_opt, state.d_params)
        d_params = optax.apply_updates(state.d_params, d_updates)

        # --- G update through the updated D.
        def g_objective(fake_images):
            logits, mut = D.apply({"params": d_params, "batch_stats": d_stats}, fake_images, train=True,
                                  mutable=["batch_stats"])
            _, g_loss = loss(jax.lax.stop_gradient(real_logits), logits)
            return g_loss, mut["batch_stats"]

        (g_loss, d_stats), dfake = jax.value_and_grad(g_objective, has_aux=True)(fake)
        (g_grads,) = g_pullback(dfake)
        g_updates, g_opt = setup.g_tx.update(g_grads, state.g_opt, state.g_params)
        g_params = optax.apply_updates(state.g_params, g_updates)

        new_state = GANState(
            step=state.step + 1, g_params=g_params, g_stats=g_stats, d_params=d_params, d_stats=d_stats,
            g_opt=g_opt, d_opt=d_opt, g_ema=ema_update(state.g_ema, g_params, setup.ema_decay),
        )
        metrics = {
            "d_loss": d_loss, "g_loss": g_loss,
            "d_real": jnp.mean(jax.nn.sigmoid(real_logits)), "d_fake": jnp.mean(jax.nn.sigmoid(fake_logits)),
            "d_grad_norm": optax.tree.norm(d_grads), "g_grad_norm": optax.tree.norm(g_grads),
        }
        return new_state, metrics

    # Pinned output shardings: fresh and restored runs execute the same program.
    replicated = replicated_sharding(mesh)
    return jax.jit(step, donate_argnums=0, out_shardings=(replicated, replicated))


def make_sampler(setup: GANSetup, mesh: Mesh) -> Callable:
    """Jitted `sample(g_params, g_stats, z) -> images` with BatchNorm in batch-statistics mode.

    DCGAN-style generators are sampled as they were trained (BN on the sample batch), so FID is
    measured on batches of the training batch size or larger; the running averages are not used.
    """
    def sample(g_params, g_stats, z):
        z = constrain_batch(z, mesh)
        images, _ = setup.generator.apply({"params": g_params, "batch_stats": g_stats}, z, train=True,
                                          mutable=["batch_stats"])
        return images

    return jax.jit(sample)
