"""Progressive GAN generator and discriminator (Karras et al. 2018, "Progressive Growing of GANs for
Improved Quality, Stability, and Variation"), NHWC, with every resolution's layers in one parameter tree.

Growing is a call argument, not a change of the tree: `stage` (a Python int, static under jit) selects the
current resolution 4·2^stage, and `alpha` (an array, traced) blends the new block in (§2, Fig. 2):

- G: z (pixel-normed) -> dense to 4x4 -> conv 3x3 (each followed by lrelu and pixel norm, §4.2) -> per
  block: nearest x2 upsampling, two 3x3 convs. At stage s with α < 1 the image is
  (1 − α)·upsample(toRGB_{s−1}(x_{s−1})) + α·toRGB_s(block_s(x_{s−1})).
- D: fromRGB at the current resolution -> per block: two 3x3 convs and a 2x2 average pool; the new
  block is blended as (1 − α)·fromRGB_{s−1}(avgpool(img)) + α·block_s(fromRGB_s(img)); the 4x4 head is
  minibatch stddev (§3), a 3x3 conv, a 4x4 conv to 1x1 (a dense layer on the flattened map) and a linear
  output.

Every layer uses the equalized learning rate (§4.1; `genvision_jax.nn.stylegan`), leaky ReLU 0.2 (times √2,
the He gain the paper folds into its weight scale). Channels per resolution min(channel_base / res,
channel_max), as the official code's nf(). Initialisation creates every resolution's toRGB / fromRGB.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from genvision_jax.nn import minibatch_stddev
from genvision_jax.nn.stylegan import EqualizedConv, EqualizedDense, pixel_norm

Array = jax.Array


def num_stages(resolution: int) -> int:
    """Stages 0 (4x4) .. log2(R) − 2 (R x R)."""
    k = int(round(math.log2(resolution))) if resolution > 0 else 0
    if resolution < 4 or 2 ** k != resolution:
        raise ValueError(f"ProGAN resolution must be a power of two >= 4, got {resolution}")
    return k - 1


def upsample_nearest(x: Array, factor: int = 2) -> Array:
    return jnp.repeat(jnp.repeat(x, factor, axis=1), factor, axis=2)


def downsample_box(x: Array, factor: int = 2) -> Array:
    """Average over factor x factor blocks (ProGAN's downsampling of reals and in D)."""
    n, h, w, c = x.shape
    return x.reshape(n, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))


class _Base(nn.Module):
    resolution: int
    channels: int = 3
    channel_base: int = 8192
    channel_max: int = 512

    def ch(self, res: int) -> int:
        return min(self.channel_base // res, self.channel_max)

    def check_stage(self, stage: int) -> int:
        last = num_stages(self.resolution) - 1
        if not 0 <= stage <= last:
            raise ValueError(f"stage must be in 0..{last} for resolution {self.resolution}, got {stage}")
        return stage


class ProGANGenerator(_Base):
    """G(z, stage=last, alpha=1) -> images [B, 4·2^stage, 4·2^stage, C] (linear output, about [-1, 1])."""

    z_dim: int = 512

    @nn.compact
    def __call__(self, z: Array, y: Array | None = None, *, train: bool = False, stage: int | None = None,
                 alpha: Array | float = 1.0) -> Array:
        del y, train
        last = num_stages(self.resolution) - 1
        stage = self.check_stage(last if stage is None else stage)
        to_rgb = [EqualizedConv(self.channels, 1, name=f"torgb{4 * 2 ** s}") for s in range(last + 1)]
        c4 = self.ch(4)
        x = pixel_norm(z.astype(jnp.float32))
        x = EqualizedDense(4 * 4 * c4, activation="lrelu", name="b4_dense")(x)
        x = pixel_norm(x.reshape(z.shape[0], 4, 4, c4))
        x = pixel_norm(EqualizedConv(c4, 3, activation="lrelu", name="b4_conv")(x))
        prev = x
        for s in range(1, stage + 1):
            res = 4 * 2 ** s
            prev = x
            x = upsample_nearest(x)
            x = pixel_norm(EqualizedConv(self.ch(res), 3, activation="lrelu", name=f"b{res}_conv0")(x))
            x = pixel_norm(EqualizedConv(self.ch(res), 3, activation="lrelu", name=f"b{res}_conv1")(x))
        img = to_rgb[stage](x)
        if stage > 0:
            low = upsample_nearest(to_rgb[stage - 1](prev))
            img = low + jnp.asarray(alpha, img.dtype) * (img - low)
        if self.is_initializing():  # create every resolution's toRGB, so the tree never changes shape
            for s in range(last + 1):
                if s not in (stage, stage - 1):
                    feats = jnp.zeros((1, 4, 4, self.ch(4 * 2 ** s)), x.dtype)
                    to_rgb[s](feats)
        return img


class ProGANDiscriminator(_Base):
    """D(img [N, 4·2^stage, ·, C], stage=last, alpha=1) -> logits [N] (float32)."""

    mbstd_group: int = 4

    @nn.compact
    def __call__(self, img: Array, y: Array | None = None, *, train: bool = False, stage: int | None = None,
                 alpha: Array | float = 1.0) -> Array:
        del y, train
        last = num_stages(self.resolution) - 1
        stage = self.check_stage(last if stage is None else stage)
        res = 4 * 2 ** stage
        if img.shape[1:3] != (res, res):
            raise ValueError(f"ProGANDiscriminator at stage {stage} expects [N, {res}, {res}, C], got "
                             f"{tuple(img.shape)}")
        from_rgb = [EqualizedConv(self.ch(4 * 2 ** s), 1, activation="lrelu", name=f"fromrgb{4 * 2 ** s}")
                    for s in range(last + 1)]
        x = from_rgb[stage](img)
        for s in range(stage, 0, -1):
            r = 4 * 2 ** s
            x = EqualizedConv(self.ch(r), 3, activation="lrelu", name=f"b{r}_conv0")(x)
            x = EqualizedConv(self.ch(r // 2), 3, activation="lrelu", name=f"b{r}_conv1")(x)
            x = downsample_box(x)
            if s == stage:
                low = from_rgb[stage - 1](downsample_box(img))
                x = low + jnp.asarray(alpha, x.dtype) * (x - low)
        if self.is_initializing():
            for s in range(last + 1):
                if s not in (stage, stage - 1):
                    r = 4 * 2 ** s
                    from_rgb[s](jnp.zeros((1, r, r, img.shape[-1]), img.dtype))
        x = minibatch_stddev(x, self.mbstd_group)
        x = EqualizedConv(self.ch(4), 3, activation="lrelu", name="b4_conv")(x)
        x = EqualizedDense(self.ch(4), activation="lrelu", name="b4_dense")(x.reshape(x.shape[0], -1))
        return EqualizedDense(1, name="out")(x)[:, 0].astype(jnp.float32)
