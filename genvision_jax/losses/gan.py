"""GAN objectives with one signature: `loss(real_logits, fake_logits) -> (d_loss, g_loss)`.

Logits are the discriminator's raw outputs, shape [N] (or [N, ...], averaged). In a D-then-G step the
trainer takes `d_loss` from D(x), D(G(z)) and `g_loss` from the updated D; `real_logits` may be a
stop-gradient value for the G update (only relativistic losses read it there). An ablation over
objectives is then a config string (`get_gan_loss(name)`), as in compare_gan.
"""

from typing import Callable

import jax
import jax.numpy as jnp

GANLoss = Callable[[jax.Array, jax.Array], tuple[jax.Array, jax.Array]]


def non_saturating(real_logits: jax.Array, fake_logits: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Goodfellow et al. 2014, "Generative Adversarial Nets", with the non-saturating G objective.

    d_loss = −E[log σ(D(x))] − E[log(1 − σ(D(G(z))))],  g_loss = −E[log σ(D(G(z)))],
    written with log-sigmoids of logits (log σ(t) = −softplus(−t), log(1 − σ(t)) = −softplus(t)).
    """
    d_loss = jnp.mean(jax.nn.softplus(-real_logits)) + jnp.mean(jax.nn.softplus(fake_logits))
    g_loss = jnp.mean(jax.nn.softplus(-fake_logits))
    return d_loss, g_loss


_LOSSES: dict[str, GANLoss] = {"non_saturating": non_saturating}


def get_gan_loss(name: str) -> GANLoss:
    if name not in _LOSSES:
        raise ValueError(f"unknown GAN loss {name!r}; choose one of {sorted(_LOSSES)}")
    return _LOSSES[name]
