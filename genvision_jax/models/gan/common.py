"""Pieces shared by the GAN architectures: discriminator options, the output head, activations.

Every discriminator has the fields `norm`, `minibatch_std`, `minibatch_std_group`,
`minibatch_discrimination`, `minibatch_kernel_dim` and `num_classes`, and ends in
`discriminator_head`: from per-sample penultimate features phi(x) [N, F] to one logit per sample,

    logit = psi(phi(x)) + w . o(x) + <embed(y), phi(x)>,

psi a linear layer (given by the architecture), o(x) the minibatch-discrimination features
(Salimans et al. 2016; the w . o term makes the output layer see [phi, o], the paper's concatenation)
and the last term the projection discriminator (Miyato & Koyama 2018, eq. 3). phi is sown as
'intermediates/features' for feature matching; it excludes o, which depends on the whole batch.
With norm='spectral' every weight of the head except the minibatch-discrimination tensor T is
spectrally normalized, as in Miyato & Koyama (the embedding too).
"""

from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from genvision_jax.nn import MinibatchDiscrimination, check_labels, check_norm, wrap_weights

Array = jax.Array

ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "relu": nn.relu,
    "leaky_relu": lambda x: nn.leaky_relu(x, 0.2),
    "tanh": jnp.tanh,
}


def activation(name: str) -> Callable[[Array], Array]:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {tuple(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def check_discriminator_options(d: nn.Module, y: Array | None, batch: int) -> None:
    """Errors for a discriminator's option fields and labels, named after its class."""
    who = type(d).__name__
    check_norm(d.norm)
    if d.minibatch_std_group < 1:
        raise ValueError(f"{who}: minibatch_std_group must be >= 1, got {d.minibatch_std_group}")
    if d.minibatch_discrimination < 0 or d.minibatch_kernel_dim < 1:
        raise ValueError(f"{who}: minibatch_discrimination must be >= 0 and minibatch_kernel_dim >= 1, got "
                         f"{d.minibatch_discrimination} and {d.minibatch_kernel_dim}")
    check_labels(y, batch, d.num_classes, who)


def discriminator_head(d: nn.Module, phi: Array, y: Array | None, psi: Array, *, train: bool) -> Array:
    """phi [N, F] features, psi [N] the architecture's linear output on phi -> float32 logits [N].

    Call from `d`'s compact method (the head's layers are created in `d`'s scope).
    """
    d.sow("intermediates", "features", phi)
    logits = psi
    if d.minibatch_discrimination:
        o = MinibatchDiscrimination(d.minibatch_discrimination, d.minibatch_kernel_dim,
                                    name="minibatch_discrimination")(phi)
        out = wrap_weights(nn.Dense(1, use_bias=False, name="minibatch_out"), d.norm, train=train)
        logits = logits + out(o)[:, 0]
    if d.num_classes:
        embed = wrap_weights(nn.Embed(d.num_classes, phi.shape[-1], embedding_init=nn.initializers.xavier_uniform(),
                                      name="embed_y"), d.norm, train=train)
        logits = logits + jnp.sum(embed(y) * phi, axis=-1)
    return logits.astype(jnp.float32)
