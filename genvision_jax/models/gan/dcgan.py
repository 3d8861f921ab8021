"""DCGAN generator and discriminator (Radford, Metz & Chintala 2016, "Unsupervised Representation
Learning with Deep Convolutional GANs").

Architecture for an S×S image (S = 2^k, k ≥ 3), `f` = base features (64 in the paper):
  G: z[N,100] → ConvT(k4,s1,p0) → 4×4×f·2^(k−3) → [ConvT(k4,s2,p1) + BN + ReLU] halving features
     until S/2 → ConvT(k4,s2,p1) → S×S×C → tanh.   (64×64: 512→256→128→64→3, as in the paper)
  D: [N,S,S,C] → Conv(k4,s2,p1)+LReLU(0.2) (no BN on the input layer) → [Conv(k4,s2,p1)+BN+LReLU]
     doubling features until 4×4 → Conv(k4,s1,p0) → one logit per image [N].
Weights ~ N(0, 0.02), BN scale ~ N(1, 0.02), BN bias 0 (paper §4). D returns logits (no sigmoid):
the loss applies the link function stably. BatchNorm momentum 0.9 / eps 1e-5 equal PyTorch's defaults.

Options beyond the paper (defaults give the paper's network):
- G `num_classes > 0`: every BN becomes class-conditional (per-class gamma/beta; Miyato & Koyama 2018).
- D `norm` in genvision_jax.nn.NORMS replaces the hidden layers' BN (instance, layer, none) or
  spectrally normalizes every weight (Miyato et al. 2018). Without an affine norm after them
  ('none', 'spectral') the convs get biases.
- D `minibatch_std` appends the minibatch stddev channel to the 4×4 map before the last conv (where
  ProGAN puts it). `minibatch_discrimination` and `num_classes` act in the head (models.gan.common)
  on phi = that 4×4 map flattened (with the stddev channel when on); the last conv is its linear
  output psi.
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from genvision_jax.models.gan.common import check_discriminator_options, discriminator_head
from genvision_jax.nn import (
    Conv,
    ConvTranspose,
    check_labels,
    make_conditional_norm,
    make_norm,
    minibatch_stddev,
    wrap_weights,
)

dcgan_init = nn.initializers.normal(0.02)


def _bn_scale_init(key, shape, dtype=jnp.float32):
    return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


def _num_stages(image_size: int) -> int:
    k = int(round(math.log2(image_size))) if image_size > 0 else 0
    if image_size < 8 or 2 ** k != image_size:
        raise ValueError(f"DCGAN image_size must be a power of two >= 8, got {image_size}")
    return k - 2  # number of 2× resolution changes between 4×4 and S×S


class DCGANGenerator(nn.Module):
    """z [N, latent_dim] (+ labels y int [N] when num_classes > 0) → images [N, S, S, channels] in [-1, 1]."""

    image_size: int = 64
    channels: int = 3
    latent_dim: int = 100
    base_features: int = 64
    num_classes: int = 0

    @nn.compact
    def __call__(self, z: jax.Array, y: jax.Array | None = None, *, train: bool) -> jax.Array:
        if z.ndim != 2 or z.shape[-1] != self.latent_dim:
            raise ValueError(f"DCGANGenerator expects z of shape [N, {self.latent_dim}], got {tuple(z.shape)}")
        check_labels(y, z.shape[0], self.num_classes, "DCGANGenerator")
        n = _num_stages(self.image_size)

        def bn_relu(x, i):
            norm = make_conditional_norm(self.num_classes, train=train, name=f"bn{i}", scale_init=_bn_scale_init)
            return nn.relu(norm(x, y))

        feats = self.base_features * 2 ** (n - 1)
        x = z.reshape(z.shape[0], 1, 1, self.latent_dim)
        x = ConvTranspose(feats, 4, stride=1, padding=0, use_bias=False, kernel_init=dcgan_init, name="convt0")(x)
        x = bn_relu(x, 0)
        for i in range(1, n):
            feats //= 2
            x = ConvTranspose(feats, 4, stride=2, padding=1, use_bias=False, kernel_init=dcgan_init,
                              name=f"convt{i}")(x)
            x = bn_relu(x, i)
        x = ConvTranspose(self.channels, 4, stride=2, padding=1, use_bias=False, kernel_init=dcgan_init,
                          name=f"convt{n}")(x)
        return jnp.tanh(x)


class DCGANDiscriminator(nn.Module):
    """images [N, S, S, channels] (+ labels y int [N] when num_classes > 0) → float32 logits [N].

    Sows phi, the last 4×4 map flattened [N, 16·F] (16·(F+1) with minibatch_std), as 'intermediates/features'.
    """

    image_size: int = 64
    channels: int = 3
    base_features: int = 64
    norm: str = "batch"
    minibatch_std: bool = False
    minibatch_std_group: int = 4
    minibatch_discrimination: int = 0
    minibatch_kernel_dim: int = 5
    num_classes: int = 0

    @nn.compact
    def __call__(self, x: jax.Array, y: jax.Array | None = None, *, train: bool) -> jax.Array:
        expected = (self.image_size, self.image_size, self.channels)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"DCGANDiscriminator expects images of shape [N, {expected[0]}, {expected[1]}, "
                             f"{expected[2]}], got {tuple(x.shape)}")
        check_discriminator_options(self, y, x.shape[0])
        n = _num_stages(self.image_size)
        use_bias = self.norm in ("none", "spectral")

        def conv(features, stride, padding, i):
            layer = Conv(features, 4, stride=stride, padding=padding, use_bias=use_bias, kernel_init=dcgan_init,
                         name=f"conv{i}")
            return wrap_weights(layer, self.norm, train=train)

        feats = self.base_features
        x = nn.leaky_relu(conv(feats, 2, 1, 0)(x), 0.2)
        for i in range(1, n):
            feats *= 2
            x = conv(feats, 2, 1, i)(x)
            norm = make_norm(self.norm, train=train, name=f"bn{i}" if self.norm == "batch" else f"norm{i}",
                             scale_init=_bn_scale_init)
            x = nn.leaky_relu(norm(x), 0.2)
        if self.minibatch_std:
            x = minibatch_stddev(x, self.minibatch_std_group)
        psi = conv(1, 1, 0, n)(x).reshape(x.shape[0])  # k4 p0 on the 4×4 map: linear in phi
        return discriminator_head(self, x.reshape(x.shape[0], -1), y, psi, train=train)
