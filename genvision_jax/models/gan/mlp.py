"""Fully connected G and D for 2-D toy data (Gaussian mixtures), after the unrolled-GAN setup.

Metz et al. 2017, "Unrolled Generative Adversarial Networks", §3.1 and App. A: a 256-d Gaussian z,
a G of two 128-unit ReLU layers with a linear 2-d output, a small fully connected D that first scales
its input down (by 1/4 there: `input_scale`). Widths, depth and activation are configurable.

G: z [N, latent] (‖ embed(y) [N, E] when num_classes > 0) → [Dense + act] × L → Dense → [N, data_dim].
D: x [N, data_dim] · input_scale → [Dense (+ norm from the 2nd layer on) + act] × L → phi [N, H_L]
   → logits [N] via models.gan.common.discriminator_head. minibatch_std appends its feature to the
   input of the last hidden layer. Instance norm is undefined for vectors and is rejected.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genvision_jax.models.gan.common import activation, check_discriminator_options, discriminator_head
from genvision_jax.nn import check_labels, make_norm, minibatch_stddev, wrap_weights


def _check_widths(widths: Sequence[int], who: str) -> None:
    if len(widths) == 0 or any(w < 1 for w in widths):
        raise ValueError(f"{who}: hidden widths must be a non-empty sequence of positive ints, got {tuple(widths)}")


class MLPGenerator(nn.Module):
    """z [N, latent_dim] (+ labels y int [N] when num_classes > 0) → samples [N, data_dim] (linear output)."""

    latent_dim: int = 256
    data_dim: int = 2
    hidden: Sequence[int] = (128, 128)
    activation: str = "relu"
    num_classes: int = 0
    label_embed_dim: int = 16

    @nn.compact
    def __call__(self, z: jax.Array, y: jax.Array | None = None, *, train: bool) -> jax.Array:
        del train  # no batch-dependent layers; the argument is part of the generator interface
        if z.ndim != 2 or z.shape[-1] != self.latent_dim:
            raise ValueError(f"MLPGenerator expects z of shape [N, {self.latent_dim}], got {tuple(z.shape)}")
        _check_widths(self.hidden, "MLPGenerator")
        check_labels(y, z.shape[0], self.num_classes, "MLPGenerator")
        act = activation(self.activation)
        h = z
        if self.num_classes:
            h = jnp.concatenate([z, nn.Embed(self.num_classes, self.label_embed_dim, name="embed_y")(y)], axis=-1)
        for i, width in enumerate(self.hidden):
            h = act(nn.Dense(width, name=f"fc{i}")(h))
        return nn.Dense(self.data_dim, name="fc_out")(h)


class MLPDiscriminator(nn.Module):
    """x [N, data_dim] (+ labels y int [N] when num_classes > 0) → float32 logits [N]; sows phi [N, hidden[-1]]."""

    data_dim: int = 2
    hidden: Sequence[int] = (128, 128)
    activation: str = "relu"
    input_scale: float = 1.0
    norm: str = "none"
    minibatch_std: bool = False
    minibatch_std_group: int = 4
    minibatch_discrimination: int = 0
    minibatch_kernel_dim: int = 5
    num_classes: int = 0

    @nn.compact
    def __call__(self, x: jax.Array, y: jax.Array | None = None, *, train: bool) -> jax.Array:
        if x.ndim != 2 or x.shape[-1] != self.data_dim:
            raise ValueError(f"MLPDiscriminator expects x of shape [N, {self.data_dim}], got {tuple(x.shape)}")
        _check_widths(self.hidden, "MLPDiscriminator")
        check_discriminator_options(self, y, x.shape[0])
        if self.norm == "instance":
            raise ValueError("MLPDiscriminator: instance norm needs spatial axes; use batch, layer, spectral or none")
        act = activation(self.activation)
        h = x * self.input_scale
        for i, width in enumerate(self.hidden):
            if self.minibatch_std and i == len(self.hidden) - 1:
                h = minibatch_stddev(h, self.minibatch_std_group)
            h = wrap_weights(nn.Dense(width, name=f"fc{i}"), self.norm, train=train)(h)
            if i > 0:  # DCGAN convention: the input layer is not normalized
                h = make_norm(self.norm, train=train, name=f"norm{i}")(h)
            h = act(h)
        psi = wrap_weights(nn.Dense(1, name="fc_out"), self.norm, train=train)(h)[:, 0]
        return discriminator_head(self, h, y, psi, train=train)
