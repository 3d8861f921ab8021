"""DCGAN generator and discriminator (Radford, Metz & Chintala 2016, "Unsupervised Representation
Learning with Deep Convolutional GANs"; seed 000 Q1, CATALOG GAN-M1/M2).

Architecture for an S×S image (S = 2^k, k ≥ 3), `f` = base features (64 in the paper):
  G: z[N,100] → ConvT(k4,s1,p0) → 4×4×f·2^(k−3) → [ConvT(k4,s2,p1) + BN + ReLU] halving features
     until S/2 → ConvT(k4,s2,p1) → S×S×C → tanh.   (64×64: 512→256→128→64→3, as in the paper)
  D: [N,S,S,C] → Conv(k4,s2,p1)+LReLU(0.2) (no BN on the input layer) → [Conv(k4,s2,p1)+BN+LReLU]
     doubling features until 4×4 → Conv(k4,s1,p0) → one logit per image [N].
Weights ~ N(0, 0.02), BN scale ~ N(1, 0.02), BN bias 0 (paper §4). D returns logits (no sigmoid):
the loss applies the link function stably. BatchNorm momentum 0.9 / eps 1e-5 equal PyTorch's defaults.
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from genvision_jax.nn import Conv, ConvTranspose

dcgan_init = nn.initializers.normal(0.02)


def _bn_scale_init(key, shape, dtype=jnp.float32):
    return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


def _batch_norm(train: bool, name: str) -> nn.BatchNorm:
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                        scale_init=_bn_scale_init, name=name)


def _num_stages(image_size: int) -> int:
    k = int(round(math.log2(image_size))) if image_size > 0 else 0
    if image_size < 8 or 2 ** k != image_size:
        raise ValueError(f"DCGAN image_size must be a power of two >= 8, got {image_size}")
    return k - 2  # number of 2× resolution changes between 4×4 and S×S


class DCGANGenerator(nn.Module):
    """z [N, latent_dim] → images [N, S, S, channels] in [-1, 1]."""

    image_size: int = 64
    channels: int = 3
    latent_dim: int = 100
    base_features: int = 64

    @nn.compact
    def __call__(self, z: jax.Array, *, train: bool) -> jax.Array:
        if z.ndim != 2 or z.shape[-1] != self.latent_dim:
            raise ValueError(f"DCGANGenerator expects z of shape [N, {self.latent_dim}], got {tuple(z.shape)}")
        n = _num_stages(self.image_size)
        feats = self.base_features * 2 ** (n - 1)
        x = z.reshape(z.shape[0], 1, 1, self.latent_dim)
        x = ConvTranspose(feats, 4, stride=1, padding=0, use_bias=False, kernel_init=dcgan_init, name="convt0")(x)
        x = nn.relu(_batch_norm(train, "bn0")(x))
        for i in range(1, n):
            feats //= 2
            x = ConvTranspose(feats, 4, stride=2, padding=1, use_bias=False, kernel_init=dcgan_init,
                              name=f"convt{i}")(x)
            x = nn.relu(_batch_norm(train, f"bn{i}")(x))
        x = ConvTranspose(self.channels, 4, stride=2, padding=1, use_bias=False, kernel_init=dcgan_init,
                          name=f"convt{n}")(x)
        return jnp.tanh(x)


class DCGANDiscriminator(nn.Module):
    """images [N, S, S, channels] → logits [N]."""

    image_size: int = 64
    channels: int = 3
    base_features: int = 64

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        expected = (self.image_size, self.image_size, self.channels)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"DCGANDiscriminator expects images of shape [N, {expected[0]}, {expected[1]}, "
                             f"{expected[2]}], got {tuple(x.shape)}")
        n = _num_stages(self.image_size)
        feats = self.base_features
        x = Conv(feats, 4, stride=2, padding=1, use_bias=False, kernel_init=dcgan_init, name="conv0")(x)
        x = nn.leaky_relu(x, 0.2)
        for i in range(1, n):
            feats *= 2
            x = Conv(feats, 4, stride=2, padding=1, use_bias=False, kernel_init=dcgan_init, name=f"conv{i}")(x)
            x = nn.leaky_relu(_batch_norm(train, f"bn{i}")(x), 0.2)
        x = Conv(1, 4, stride=1, padding=0, use_bias=False, kernel_init=dcgan_init, name=f"conv{n}")(x)
        return x.reshape(x.shape[0])
