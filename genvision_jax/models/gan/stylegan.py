"""StyleGAN 1 and 2 generators and the StyleGAN 2 discriminators, NHWC, pure XLA.

Generator (Karras et al. 2019, "A Style-Based Generator Architecture for GANs"; Karras et al. 2020,
"Analyzing and Improving the Image Quality of StyleGAN"):
- mapping: z normalised (pixel norm), `mapping_layers` equalized-lr dense layers with lr multiplier
  0.01, lrelu; class-conditional runs embed y and concatenate it (normalised) to z. The running
  average w_avg (collection 'w_avg') is an EMA of the batch mean of w (β = 0.995) updated in training;
  truncation w' = w_avg + ψ (w − w_avg) on the layers below `cutoff` (ψ may be one value per layer,
  the layer-adaptive form).
- synthesis from a learned 4x4 constant. num_ws = 2·log2(R) − 2 style vectors: at 4x4 one conv (w_0)
  and a ToRGB (w_1); every block at 2^k: conv-up (w_{2k−5}), conv (w_{2k−4}), ToRGB (w_{2k−3}).
  `style='modulated'` (StyleGAN 2: modulated/demodulated convs, scalar noise strength, bias and
  noise after the modulated conv) or `style='adain'` (StyleGAN 1: conv, per-channel noise, bias,
  lrelu, AdaIN); `architecture` 'skip' (sum of upsampled ToRGB outputs), 'orig' (one ToRGB at the
  end) or 'resnet' (residual blocks with a 1x1 upsampling skip, scaled by √½).
Discriminator (StyleGAN 2, Fig. 7): 'resnet' (residual blocks, skip 1x1 down-conv, √½), 'skip'
(FromRGB of the downsampled image added at every resolution) or 'orig'; epilogue minibatch stddev
(group 4, one feature), 3x3 conv, dense, dense -> logit (projection on a class embedding when
conditional). Channels per resolution min(channel_base / res, channel_max).
"""

from __future__ import annotations

import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from genvision_jax.nn import minibatch_stddev
from genvision_jax.nn.stylegan import (AdaIN, EqualizedConv, EqualizedDense, ModulatedConv, NoiseInjection, ToRGB,
                                       downsample2d, lrelu, pixel_norm, setup_filter, upsample2d)

Array = jax.Array
ARCHITECTURES = ("orig", "skip", "resnet")
STYLES = ("modulated", "adain")


def _log2(resolution: int, who: str) -> int:
    k = int(round(math.log2(resolution))) if resolution > 0 else 0
    if resolution < 4 or 2 ** k != resolution:
        raise ValueError(f"{who}: resolution must be a power of two >= 4, got {resolution}")
    return k


def j_of(resolution: int) -> int:
    return int(round(math.log2(resolution)))


def num_ws(resolution: int) -> int:
    return 2 * _log2(resolution, "num_ws") - 2


class MappingNetwork(nn.Module):
    w_dim: int = 512
    num_layers: int = 8
    lr_mul: float = 0.01
    num_classes: int = 0

    @nn.compact
    def __call__(self, z: Array, y: Array | None = None) -> Array:
        x = pixel_norm(z.astype(jnp.float32))
        if self.num_classes:
            e = EqualizedDense(z.shape[-1], name="embed")(jax.nn.one_hot(y, self.num_classes))
            x = jnp.concatenate([x, pixel_norm(e)], axis=-1)
        for i in range(self.num_layers):
            x = EqualizedDense(self.w_dim, lr_mul=self.lr_mul, activation="lrelu", name=f"fc{i}")(x)
        return x


NOISE_LAYERS = ("all", "none", "coarse", "fine")


def noise_resolutions(resolution: int, noise_layers: str) -> set[int]:
    """The block resolutions whose layers get noise: all, none, coarse (4² … R/8², the lower half of the
    blocks) or fine (the upper half), as StyleGAN's Fig. 5 ablation (noise in coarse / fine layers only)."""
    if noise_layers not in NOISE_LAYERS:
        raise ValueError(f"noise_layers must be one of {NOISE_LAYERS}, got {noise_layers!r}")
    res = [2 ** j for j in range(2, _log2(resolution, "noise_resolutions") + 1)]
    half = (len(res) + 1) // 2
    return {"all": set(res), "none": set(), "coarse": set(res[:half]), "fine": set(res[half:])}[noise_layers]


class Synthesis(nn.Module):
    resolution: int
    channels: int = 3
    channel_base: int = 16384
    channel_max: int = 512
    architecture: str = "skip"
    style: str = "modulated"
    modconv_impl: str = "scaled"
    noise_layers: str = "all"
    num_bf16_res: int = 0             # mixed precision: the highest N resolutions compute in bfloat16
    conv_clamp: float | None = None   # clamp those layers' outputs to ±conv_clamp (official: 256)
    conv_impl: str = "auto"           # genvision_jax.nn.conv formulation of every conv

    def ch(self, res: int) -> int:
        return min(self.channel_base // res, self.channel_max)

    @nn.compact
    def __call__(self, ws: Array, noise_mode: str = "random", noise_strength: float | Sequence[float] = 1.0) -> Array:
        k = _log2(self.resolution, "Synthesis")
        if self.architecture not in ARCHITECTURES or self.style not in STYLES:
            raise ValueError(f"Synthesis: architecture must be one of {ARCHITECTURES} and style one of {STYLES}, got "
                             f"{self.architecture!r}, {self.style!r}")
        adain = self.style == "adain"
        n_ws, n_layers = 2 * k - 2, 2 * k - (2 if adain else 3)
        if ws.ndim != 3 or ws.shape[1] != n_ws:
            raise ValueError(f"Synthesis at {self.resolution}px needs ws [B, {n_ws}, w_dim], got {tuple(ws.shape)}")
        # A float or per-layer values: a sequence of floats (constants of the program) or an array [n_layers]
        # (traced: one compiled program serves every noise setting).
        if isinstance(noise_strength, (int, float)):
            strengths = [float(noise_strength)] * n_layers
        elif isinstance(noise_strength, (jax.Array, np.ndarray)):
            if noise_strength.shape != (n_layers,):
                raise ValueError(f"noise_strength needs {n_layers} values (one per conv layer), got shape "
                                 f"{tuple(noise_strength.shape)}")
            strengths = [noise_strength[i] for i in range(n_layers)]
        else:
            strengths = [float(s) for s in noise_strength]
        if len(strengths) != n_layers:
            raise ValueError(f"noise_strength needs {n_layers} values (one per conv layer), got {len(strengths)}")
        with_noise = noise_resolutions(self.resolution, self.noise_layers)
        f = setup_filter((1, 3, 3, 1))
        b = ws.shape[0]
        x = self.param("const", nn.initializers.normal(1.0), (4, 4, self.ch(4)))
        x = jnp.broadcast_to(x[None], (b, 4, 4, self.ch(4))).astype(ws.dtype)
        layer = 0

        def conv(x, features, w, up, name, res, with_conv=True):
            nonlocal layer
            s = strengths[layer]
            layer += 1
            noise = res in with_noise
            if not adain:
                return ModulatedConv(features, up=up, impl=self.modconv_impl, use_noise=noise,
                                     conv_impl=self.conv_impl, name=name)(
                    x, w, noise_mode, s)
            if with_conv:
                x = EqualizedConv(features, 3, use_bias=False, up=up, conv_impl=self.conv_impl, name=f"{name}_conv")(x)
            if noise:
                x = NoiseInjection(per_channel=True, name=f"{name}_noise")(x, noise_mode, s)
            x = lrelu(x + self.param(f"{name}_bias", nn.initializers.zeros, (features,)).astype(x.dtype))
            return AdaIN(name=f"{name}_adain")(x, w)

        def to_rgb(x, w, name):
            if not adain:
                return ToRGB(self.channels, impl=self.modconv_impl, conv_impl=self.conv_impl, name=name)(
                    x, w).astype(jnp.float32)
            return EqualizedConv(self.channels, 1, conv_impl=self.conv_impl, name=name)(x).astype(jnp.float32)

        def clamp(x):
            return x if self.conv_clamp is None else jnp.clip(x, -self.conv_clamp, self.conv_clamp)

        # StyleGAN 2 at 4x4: conv (w_0), ToRGB (w_1); block i: conv-up, conv, ToRGB on w_{2i+1..2i+3}.
        # StyleGAN 1 at 4x4: const + noise + AdaIN (w_0), conv (w_1); block i: w_{2i+2}, w_{2i+3}; ToRGB unstyled.
        if adain:
            x = conv(x, self.ch(4), ws[:, 0], 1, "b4_const", 4, with_conv=False)
            x = conv(x, self.ch(4), ws[:, 1], 1, "b4_conv", 4)
        else:
            x = conv(x, self.ch(4), ws[:, 0], 1, "b4_conv", 4)
        img = to_rgb(x, ws[:, 1], "b4_torgb") if self.architecture == "skip" or k == 2 else None
        for i, res in enumerate(2 ** j for j in range(3, k + 1)):
            c, base = self.ch(res), 2 * i + (2 if adain else 1)
            if k - (i + 3) < self.num_bf16_res:  # the highest num_bf16_res resolutions
                x = x.astype(jnp.bfloat16)
            skip = x
            x = clamp(conv(x, c, ws[:, base], 2, f"b{res}_conv0", res))
            x = clamp(conv(x, c, ws[:, base + 1], 1, f"b{res}_conv1", res))
            if self.architecture == "resnet":
                skip = EqualizedConv(c, 1, use_bias=False, up=2, conv_impl=self.conv_impl, name=f"b{res}_skip")(skip)
                x = clamp((x + skip) * math.sqrt(0.5))
            w_rgb = ws[:, min(base + 2, n_ws - 1)]
            if self.architecture == "skip":
                img = upsample2d(img, f) + to_rgb(x, w_rgb, f"b{res}_torgb")
            elif res == self.resolution:
                img = to_rgb(x, w_rgb, f"b{res}_torgb")
        return img


class StyleGANGenerator(nn.Module):
    """G(z, y=None, *, train) -> images [B, R, R, C] (the GAN-zoo signature); `mapping`, `synthesis` and
    `generate` for style mixing, truncation and noise control. RNG streams: 'noise' (random noise)."""

    resolution: int
    channels: int = 3
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 8
    mapping_lr_mul: float = 0.01
    channel_base: int = 16384
    channel_max: int = 512
    architecture: str = "skip"
    style: str = "modulated"
    w_avg_beta: float = 0.995
    num_classes: int = 0
    modconv_impl: str = "scaled"
    noise_layers: str = "all"
    num_bf16_res: int = 0
    conv_clamp: float | None = None
    conv_impl: str = "auto"

    def setup(self):
        self.map_net = MappingNetwork(self.w_dim, self.mapping_layers, self.mapping_lr_mul, self.num_classes)
        self.synth = Synthesis(self.resolution, self.channels, self.channel_base, self.channel_max,
                               self.architecture, self.style, self.modconv_impl, self.noise_layers,
                               self.num_bf16_res, self.conv_clamp, self.conv_impl)
        self.w_avg = self.variable("w_avg", "value", lambda: jnp.zeros((self.w_dim,), jnp.float32))

    @property
    def num_ws(self) -> int:
        return num_ws(self.resolution)

    @property
    def num_conv_layers(self) -> int:
        """Conv layers of the synthesis (each with one noise input): one fewer than num_ws in StyleGAN 2 (the
        last w feeds only toRGB), as many in StyleGAN 1."""
        return self.num_ws - (0 if self.style == "adain" else 1)

    def mapping(self, z: Array, y: Array | None = None, *, psi: float | Array = 1.0, cutoff: int | None = None,
                update_w_avg: bool = False) -> Array:
        """z [B, z_dim] -> ws [B, num_ws, w_dim]; update_w_avg needs mutable=['w_avg']."""
        w = self.map_net(z, y)
        if update_w_avg:
            self.w_avg.value = w.mean(axis=0) + self.w_avg_beta * (self.w_avg.value - w.mean(axis=0))
        ws = jnp.broadcast_to(w[:, None], (w.shape[0], self.num_ws, self.w_dim))
        return truncate(ws, self.w_avg.value, psi, cutoff)

    def synthesis(self, ws: Array, noise_mode: str = "random", noise_strength: float | Sequence[float] = 1.0) -> Array:
        return self.synth(ws, noise_mode, noise_strength)

    def __call__(self, z: Array, y: Array | None = None, *, train: bool = False, psi: float | Array = 1.0,
                 cutoff: int | None = None, noise_mode: str = "random") -> Array:
        return self.synthesis(self.mapping(z, y, psi=psi, cutoff=cutoff), noise_mode)


def truncate(ws: Array, w_avg: Array, psi: float | Array = 1.0, cutoff: int | None = None) -> Array:
    """The truncation trick on ws [B, L, D]: w_avg + ψ (w − w_avg) on layers < cutoff (all when None).

    ψ is a scalar or one value per layer [L] (layer-adaptive truncation)."""
    psi = jnp.asarray(psi, ws.dtype)
    if psi.ndim == 1 and psi.shape[0] != ws.shape[1]:
        raise ValueError(f"per-layer psi needs {ws.shape[1]} values, got {psi.shape[0]}")
    psi = psi.reshape(-1, 1) if psi.ndim == 1 else psi
    layers = jnp.arange(ws.shape[1])[:, None]
    if cutoff is not None:
        psi = jnp.where(layers < cutoff, psi, 1.0)
    return w_avg + psi * (ws - w_avg)


def mix_styles(ws1: Array, ws2: Array, crossover: Array) -> Array:
    """Style mixing: layers < crossover[b] from ws1, the rest from ws2 (crossover [B] ints, or a scalar)."""
    layers = jnp.arange(ws1.shape[1])[None, :, None]
    return jnp.where(layers < jnp.reshape(crossover, (-1, 1, 1)), ws1, ws2)


class StyleGANDiscriminator(nn.Module):
    """D(x, y=None, *, train) -> logits [N] (float32)."""

    resolution: int
    channels: int = 3
    channel_base: int = 16384
    channel_max: int = 512
    architecture: str = "resnet"
    mbstd_group: int = 4
    num_classes: int = 0
    num_bf16_res: int = 0             # mixed precision: the highest N resolutions compute in bfloat16
    conv_clamp: float | None = None
    conv_impl: str = "auto"

    def ch(self, res: int) -> int:
        return min(self.channel_base // res, self.channel_max)

    @nn.compact
    def __call__(self, img: Array, y: Array | None = None, *, train: bool = False) -> Array:
        k = _log2(self.resolution, "StyleGANDiscriminator")
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"StyleGANDiscriminator: architecture must be one of {ARCHITECTURES}, got "
                             f"{self.architecture!r}")
        if img.shape[1:] != (self.resolution, self.resolution, self.channels):
            raise ValueError(f"StyleGANDiscriminator expects [N, {self.resolution}, {self.resolution}, "
                             f"{self.channels}], got {tuple(img.shape)}")
        f = setup_filter((1, 3, 3, 1))
        x = None
        clamp = (lambda v: v) if self.conv_clamp is None else (lambda v: jnp.clip(v, -self.conv_clamp, self.conv_clamp))
        for res in (2 ** j for j in range(k, 2, -1)):
            dtype = jnp.bfloat16 if k - j_of(res) < self.num_bf16_res else jnp.float32
            img = img.astype(dtype)
            x = None if x is None else x.astype(dtype)
            if x is None or self.architecture == "skip":
                rgb = EqualizedConv(self.ch(res), 1, activation="lrelu", conv_impl=self.conv_impl, name=f"b{res}_fromrgb")(img)
                x = rgb if x is None else x + rgb
            c0, c1 = self.ch(res), self.ch(res // 2)
            skip = x
            x = clamp(EqualizedConv(c0, 3, activation="lrelu", conv_impl=self.conv_impl, name=f"b{res}_conv0")(x))
            x = clamp(EqualizedConv(c1, 3, down=2, activation="lrelu", conv_impl=self.conv_impl, name=f"b{res}_conv1")(x))
            if self.architecture == "resnet":
                skip = EqualizedConv(c1, 1, use_bias=False, down=2, conv_impl=self.conv_impl, name=f"b{res}_skip")(skip)
                x = clamp((x + skip) * math.sqrt(0.5))
            if self.architecture == "skip":
                img = downsample2d(img, f)
        img = img.astype(jnp.float32)
        x = None if x is None else x.astype(jnp.float32)
        if x is None or self.architecture == "skip":
            rgb = EqualizedConv(self.ch(4), 1, activation="lrelu", conv_impl=self.conv_impl, name="b4_fromrgb")(img)
            x = rgb if x is None else x + rgb
        x = minibatch_stddev(x, self.mbstd_group)
        x = EqualizedConv(self.ch(4), 3, activation="lrelu", conv_impl=self.conv_impl, name="b4_conv")(x)
        x = EqualizedDense(self.ch(4), activation="lrelu", name="b4_fc")(x.reshape(x.shape[0], -1))
        self.sow("intermediates", "features", x)
        if self.num_classes:
            cmap = EqualizedDense(self.ch(4), name="cmap")(jax.nn.one_hot(y, self.num_classes))
            out = EqualizedDense(self.ch(4), name="out")(x)
            return (jnp.sum(out * cmap, axis=-1) / math.sqrt(self.ch(4))).astype(jnp.float32)
        return EqualizedDense(1, name="out")(x)[:, 0].astype(jnp.float32)
