"""ResNet G and D of SNGAN for 32×32 images (Miyato et al. 2018, "Spectral Normalization for GANs",
Table 4; the "resnet_cifar" architecture of compare_gan, Kurach et al. 2019).

G (features F = 256 for CIFAR-10, z 128-d):
  z → Dense(4·4·F) → 4×4×F → GBlock(up) × log2(S/4) → BN → ReLU → Conv3×3(F→C) → tanh.
  GBlock: BN → ReLU → up2 → Conv3×3 → BN → ReLU → Conv3×3, plus shortcut up2 → Conv1×1.
D (F = 128):
  x → DBlock1(optimized, down) → DBlock(down) × (log2(S/8) − 1) → DBlock × 2 (8×8) → ReLU →
  global sum pool → phi [N, F] → Dense(1) (+ projection, minibatch discrimination: common.py).
  DBlock: norm → ReLU → Conv3×3 → norm → ReLU → Conv3×3 → avgpool2, shortcut Conv1×1 → avgpool2
  (identity when neither the channels nor the size change). The optimized first block has no
  activation before its first conv and no norm (DCGAN convention for D's input layer):
  Conv3×3 → ReLU → Conv3×3 → avgpool2, shortcut avgpool2 → Conv1×1.
Up-sampling is nearest neighbour, all convs have biases, init is Glorot-uniform with gain √2 in the
residual branch and 1 elsewhere (SNGAN's chainer code). Conditional G: every BN class-conditional;
conditional D: projection (Miyato & Koyama 2018). D's `norm` defaults to 'spectral' as in SNGAN.
compare_gan's resnet_cifar has the same widths and block layout but a 3×3 shortcut conv in every
block (SNGAN: 1×1, only where the channels or the size change), zero-insertion up-sampling, a
pre-activated first D block and mean instead of sum pooling; we follow SNGAN.
D `minibatch_std` appends its channel to the input of the last block.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from genvision_jax.models.gan.common import check_discriminator_options, discriminator_head
from genvision_jax.nn import (
    Conv,
    check_labels,
    make_conditional_norm,
    make_norm,
    minibatch_stddev,
    wrap_weights,
)

Array = jax.Array

_glorot = nn.initializers.xavier_uniform()
_glorot_relu = nn.initializers.variance_scaling(2.0, "fan_avg", "uniform")  # gain √2


def _log2_size(image_size: int, minimum: int, who: str) -> int:
    k = int(round(math.log2(image_size))) if image_size > 0 else 0
    if image_size < minimum or 2 ** k != image_size:
        raise ValueError(f"{who}: image_size must be a power of two >= {minimum}, got {image_size}")
    return k


def _upsample(x: Array) -> Array:
    """Nearest-neighbour ×2: [N, H, W, C] -> [N, 2H, 2W, C]."""
    return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def _avg_pool(x: Array) -> Array:
    """2×2 mean pooling, stride 2: [N, H, W, C] -> [N, H/2, W/2, C]."""
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


class GBlock(nn.Module):
    """[N, H, W, Cin] (+ labels) -> [N, 2H, 2W, features]."""

    features: int
    num_classes: int = 0

    @nn.compact
    def __call__(self, x: Array, y: Array | None, *, train: bool) -> Array:
        def conv(name):
            return Conv(self.features, 3, padding=1, kernel_init=_glorot_relu, name=name)

        h = nn.relu(make_conditional_norm(self.num_classes, train=train, name="norm1")(x, y))
        h = conv("conv1")(_upsample(h))
        h = nn.relu(make_conditional_norm(self.num_classes, train=train, name="norm2")(h, y))
        h = conv("conv2")(h)
        # A 1×1 conv commutes with nearest up-sampling: convolve first, on 4× fewer pixels.
        shortcut = Conv(self.features, 1, kernel_init=_glorot, name="shortcut")(x)
        return h + _upsample(shortcut)


class DBlock(nn.Module):
    """[N, H, W, Cin] -> [N, H', W', features], H' = H/2 when downsample else H."""

    features: int
    norm: str = "spectral"
    downsample: bool = False
    optimized: bool = False  # first block of D: applied to the image itself

    @nn.compact
    def __call__(self, x: Array, *, train: bool) -> Array:
        def conv(kernel, name, init=_glorot_relu):
            layer = Conv(self.features, kernel, padding=kernel // 2, kernel_init=init, name=name)
            return wrap_weights(layer, self.norm, train=train)

        pool = _avg_pool if self.downsample else (lambda t: t)
        h = x
        if not self.optimized:
            h = nn.relu(make_norm(self.norm, train=train, name="norm1")(h))
        h = conv(3, "conv1")(h)
        if not self.optimized:
            h = make_norm(self.norm, train=train, name="norm2")(h)
        h = pool(conv(3, "conv2")(nn.relu(h)))
        if self.downsample or x.shape[-1] != self.features:
            # Average pooling commutes with the 1×1 conv: pool first, on 4× fewer pixels.
            return h + conv(1, "shortcut", _glorot)(pool(x))
        return h + x


class ResNetGenerator(nn.Module):
    """z [N, latent_dim] (+ labels y int [N] when num_classes > 0) → images [N, S, S, channels] in [-1, 1]."""

    image_size: int = 32
    channels: int = 3
    latent_dim: int = 128
    features: int = 256
    num_classes: int = 0

    @nn.compact
    def __call__(self, z: Array, y: Array | None = None, *, train: bool) -> Array:
        if z.ndim != 2 or z.shape[-1] != self.latent_dim:
            raise ValueError(f"ResNetGenerator expects z of shape [N, {self.latent_dim}], got {tuple(z.shape)}")
        check_labels(y, z.shape[0], self.num_classes, "ResNetGenerator")
        num_blocks = _log2_size(self.image_size, 8, "ResNetGenerator") - 2
        f = self.features
        x = nn.Dense(4 * 4 * f, kernel_init=_glorot, name="fc_in")(z).reshape(z.shape[0], 4, 4, f)
        for i in range(num_blocks):
            x = GBlock(f, self.num_classes, name=f"block{i + 1}")(x, y, train=train)
        x = nn.relu(make_conditional_norm(self.num_classes, train=train, name="norm_out")(x, y))
        x = Conv(self.channels, 3, padding=1, kernel_init=_glorot, name="conv_out")(x)
        return jnp.tanh(x)


class ResNetDiscriminator(nn.Module):
    """images [N, S, S, channels] (+ labels y int [N] when num_classes > 0) → float32 logits [N].

    Sows phi, the sum-pooled last feature map [N, features], as 'intermediates/features'.
    """

    image_size: int = 32
    channels: int = 3
    features: int = 128
    norm: str = "spectral"
    minibatch_std: bool = False
    minibatch_std_group: int = 4
    minibatch_discrimination: int = 0
    minibatch_kernel_dim: int = 5
    num_classes: int = 0

    @nn.compact
    def __call__(self, x: Array, y: Array | None = None, *, train: bool) -> Array:
        expected = (self.image_size, self.image_size, self.channels)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"ResNetDiscriminator expects images of shape [N, {expected[0]}, {expected[1]}, "
                             f"{expected[2]}], got {tuple(x.shape)}")
        check_discriminator_options(self, y, x.shape[0])
        num_down = _log2_size(self.image_size, 16, "ResNetDiscriminator") - 3  # down to 8×8
        blocks = [dict(downsample=True, optimized=True)] + [dict(downsample=True)] * (num_down - 1)
        blocks += [dict(), dict()]
        h = x
        for i, kind in enumerate(blocks):
            if self.minibatch_std and i == len(blocks) - 1:
                h = minibatch_stddev(h, self.minibatch_std_group)
            h = DBlock(self.features, self.norm, name=f"block{i + 1}", **kind)(h, train=train)
        phi = jnp.sum(nn.relu(h), axis=(1, 2))
        psi = wrap_weights(nn.Dense(1, kernel_init=_glorot, name="fc_out"), self.norm, train=train)(phi)[:, 0]
        return discriminator_head(self, phi, y, psi, train=train)
