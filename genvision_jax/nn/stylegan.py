"""The layers of the ProGAN / StyleGAN line, NHWC, pure XLA (no custom ops).

- Equalized learning rate (Karras et al. 2018, "Progressive Growing of GANs", §4.1): weights are stored
  as N(0, 1/lr_mul²) and scaled at run time by c = lr_mul / sqrt(fan_in), so Adam's per-parameter step is
  the same for every layer; `lr_mul` (StyleGAN's mapping network: 0.01) slows a layer down. Biases are
  stored divided by lr_mul and multiplied back at run time.
- Pixel norm (ProGAN §4.2): x / sqrt(mean_c x² + ε).
- `upfirdn2d` (StyleGAN2's resampling): zero-insertion upsampling, padding, FIR filtering, decimation;
  `upsample2d` / `downsample2d` with the [1, 3, 3, 1] filter and the paddings of the official code.
- Modulated convolution (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN",
  eq. 1–3): w'_ijk = s_i w_ijk, demodulated w''_ijk = w'_ijk / sqrt(Σ_ik w'_ijk² + ε). Three exact
  formulations (`modulated_conv2d(impl=...)`): 'scaled' scales the input channels by s and the output
  channels by the demodulation coefficients around ONE shared convolution (the official code's
  non-fused path; the fastest on CPU, see benchmarks/bench_modconv.py); 'batched_gemm' builds the B
  per-sample weights and multiplies them with the im2col patches in one batched GEMM; 'grouped' is the
  official fused path, one grouped convolution with B groups.
- Noise injection (StyleGAN §3.2): one single-channel N(0, 1) map per layer, scaled by a learned
  per-channel (StyleGAN 1) or scalar (StyleGAN 2) strength; modes random | const | none and an
  inference-time multiplier.
- AdaIN (StyleGAN eq. 1): instance-normalise, then y_s,i x_i + y_b,i with y = affine(w), y_s biased at 1.
"""

from __future__ import annotations

import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from genvision_jax.nn.conv import _conv2d_gemm, conv2d, depthwise_conv2d

Array = jax.Array
LRELU_GAIN = math.sqrt(2.0)
MODCONV_IMPLS = ("scaled", "batched_gemm", "grouped")
NOISE_MODES = ("random", "const", "none")


def lrelu(x: Array, gain: float = LRELU_GAIN) -> Array:
    """Leaky ReLU (slope 0.2) times √2, the official bias_act 'lrelu' (unit second moment kept)."""
    return nn.leaky_relu(x, 0.2) * gain


def pixel_norm(x: Array, epsilon: float = 1e-8) -> Array:
    """x / sqrt(mean over the last axis of x² + ε)."""
    return x * lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + epsilon)


# ------------------------------------------------------------------------------------------- FIR resampling

def setup_filter(f: Sequence[float], gain: float = 1.0) -> np.ndarray:
    """A 1-D filter normalised to sum 1 (times `gain`); [1, 3, 3, 1] -> [1, 3, 3, 1] / 8."""
    f = np.asarray(f, np.float64)
    if f.ndim != 1 or f.size < 1:
        raise ValueError(f"setup_filter expects a non-empty 1-D filter, got shape {f.shape}")
    return (f / f.sum() * gain).astype(np.float32)


def upfirdn2d(x: Array, f: np.ndarray, up: int = 1, down: int = 1,
              padding: tuple[int, int, int, int] = (0, 0, 0, 0), gain: float = 1.0) -> Array:
    """Upsample (insert up-1 zeros after each pixel), pad, convolve with the FIR filter, keep every down-th pixel.

    x [N, H, W, C]; f a 1-D separable filter [k] (applied along both axes; the 2-D filter is f ⊗ f) or a
    2-D filter [kh, kw]; padding (x0, x1, y0, y1) as the official upfirdn2d (negative values crop); the
    2-D filter is multiplied by `gain` (upsampling by 2 needs gain up² to keep the mean). Output side
    (H·up + y0 + y1 − kh) // down + 1. A true convolution (the filter is flipped), as the reference.
    """
    if up < 1 or down < 1:
        raise ValueError(f"upfirdn2d: up and down must be >= 1, got {up}, {down}")
    f = np.asarray(f, np.float32)
    n, h, w, c = x.shape
    if up > 1:
        x = jnp.pad(x.reshape(n, h, 1, w, 1, c), ((0, 0), (0, 0), (0, up - 1), (0, 0), (0, up - 1), (0, 0)))
        x = x.reshape(n, h * up, w * up, c)
    x0, x1, y0, y1 = padding
    x = lax.pad(x, jnp.zeros((), x.dtype), ((0, 0, 0), (y0, y1, 0), (x0, x1, 0), (0, 0, 0)))
    if f.ndim == 1:
        if gain < 0:
            raise ValueError(f"upfirdn2d: a separable filter needs gain >= 0, got {gain}")
        g = f[::-1] * np.float32(math.sqrt(gain))
        # Separable: vertical then horizontal pass, decimating as early as possible.
        kv = jnp.broadcast_to(jnp.asarray(g, x.dtype)[:, None, None, None], (g.size, 1, 1, c))
        x = depthwise_conv2d(x, kv, (down, 1), ((0, 0), (0, 0)))
        kh = jnp.broadcast_to(jnp.asarray(g, x.dtype)[None, :, None, None], (1, g.size, 1, c))
        return depthwise_conv2d(x, kh, (1, down), ((0, 0), (0, 0)))
    if f.ndim != 2:
        raise ValueError(f"upfirdn2d: the filter must be 1-D (separable) or 2-D, got shape {f.shape}")
    k = jnp.broadcast_to(jnp.asarray(f[::-1, ::-1] * gain, x.dtype)[:, :, None, None], (*f.shape, 1, c))
    return depthwise_conv2d(x, k, (down, down), ((0, 0), (0, 0)))


def upsample2d(x: Array, f: np.ndarray, factor: int = 2) -> Array:
    """x2 (or x factor) upsampling with filter f, output side H·factor (official upsample2d paddings)."""
    k = f.shape[0]
    p0, p1 = (k + factor - 1) // 2, (k - factor) // 2
    return upfirdn2d(x, f, up=factor, padding=(p0, p1, p0, p1), gain=factor ** 2)


def downsample2d(x: Array, f: np.ndarray, factor: int = 2) -> Array:
    """/2 (or /factor) downsampling with filter f, output side H / factor (official downsample2d paddings)."""
    k = f.shape[0]
    p0, p1 = (k - factor + 1) // 2, (k - factor) // 2
    return upfirdn2d(x, f, down=factor, padding=(p0, p1, p0, p1))


# ------------------------------------------------------------------------------------------- equalized lr

class EqualizedDense(nn.Module):
    """Dense layer with equalized learning rate: y = x (c W) + lr_mul·b, c = lr_mul / sqrt(fan_in).

    `bias_init` is the effective initial bias (StyleGAN's style affines start at 1)."""

    features: int
    lr_mul: float = 1.0
    use_bias: bool = True
    bias_init: float = 0.0
    activation: str = "linear"  # linear | lrelu

    @nn.compact
    def __call__(self, x: Array) -> Array:
        fan_in = x.shape[-1]
        w = self.param("kernel", lambda k, s: jax.random.normal(k, s) / self.lr_mul, (fan_in, self.features))
        y = x @ (w * (self.lr_mul / math.sqrt(fan_in))).astype(x.dtype)
        if self.use_bias:
            b = self.param("bias", lambda k, s: jnp.full(s, self.bias_init / self.lr_mul, jnp.float32), (self.features,))
            y = y + (b * self.lr_mul).astype(x.dtype)
        return lrelu(y) if self.activation == "lrelu" else y


class EqualizedConv(nn.Module):
    """kxk conv with equalized learning rate (c = 1/sqrt(k·k·C_in)), 'same' padding, optional FIR resampling.

    down=2: blur (downsample2d's filter, padded for the kernel) then a stride-2 conv, as StyleGAN2's
    discriminator; up=2: the official transposed conv (stride 2) + blur, computed exactly as FIR x2
    upsampling with a border then a 'valid' conv with the spatially flipped kernel (`upsample_for_conv`),
    so official weights load without flipping."""

    features: int
    kernel_size: int = 3
    use_bias: bool = True
    up: int = 1
    down: int = 1
    activation: str = "linear"
    lr_mul: float = 1.0
    resample_filter: Sequence[float] = (1, 3, 3, 1)
    conv_impl: str = "auto"  # genvision_jax.nn.conv formulation (auto: measured per shape on CPU)

    @nn.compact
    def __call__(self, x: Array) -> Array:
        k, cin = self.kernel_size, x.shape[-1]
        w = self.param("kernel", lambda key, s: jax.random.normal(key, s) / self.lr_mul, (k, k, cin, self.features))
        w = (w * (self.lr_mul / math.sqrt(k * k * cin))).astype(x.dtype)
        f = setup_filter(self.resample_filter)
        if self.up > 1:  # the official transposed conv + blur, as FIR upsampling then a flipped 'valid' conv
            x = upsample_for_conv(x, f, k, self.up)
            y = conv2d(x, w[::-1, ::-1], (1, 1), ((0, 0), (0, 0)), impl=self.conv_impl)
        elif self.down > 1:
            p = (f.shape[0] - self.down) + (k - 1)
            x = upfirdn2d(x, f, padding=((p + 1) // 2, p // 2, (p + 1) // 2, p // 2))
            y = conv2d(x, w, (self.down, self.down), ((0, 0), (0, 0)), impl=self.conv_impl)
        else:
            y = conv2d(x, w, (1, 1), ((k // 2, (k - 1) // 2),) * 2, impl=self.conv_impl)
        if self.use_bias:
            b = self.param("bias", lambda key, s: jnp.zeros(s), (self.features,))
            y = y + (b * self.lr_mul).astype(y.dtype)
        return lrelu(y) if self.activation == "lrelu" else y


# ------------------------------------------------------------------------------------------- modulated conv

def modulated_conv2d(x: Array, weight: Array, styles: Array, demodulate: bool = True, impl: str = "scaled",
                     epsilon: float = 1e-8, conv_impl: str = "auto", padding=None) -> Array:
    """Per-sample modulated (and demodulated) convolution, NHWC ('same' padding unless `padding` gives
    ((top, bottom), (left, right))).

    x [B, H, W, Cin], weight [k, k, Cin, Cout] (already scaled), styles [B, Cin] -> [B, H, W, Cout].
    Equals, for every b, conv(x_b, w''_b) with w'_b = weight · styles_b[Cin] and w''_b its demodulated
    version (demodulate=True) — whichever `impl` computes it. `conv_impl` is the `nn.conv` formulation of
    the 'scaled' path's shared conv: 'gemm' by default, because R1 and path length differentiate the convs
    twice and XLA:CPU's second-order convolutions are slow (StyleGAN 2 D at 32², batch 32, 64–128 channels:
    the R1 gradient takes 3.4 s with XLA's convs, 0.98 s as im2col GEMMs).
    """
    if impl not in MODCONV_IMPLS:
        raise ValueError(f"modulated_conv2d impl must be one of {MODCONV_IMPLS}, got {impl!r}")
    b, _, _, cin = x.shape
    k, _, wcin, cout = weight.shape
    if wcin != cin or styles.shape != (b, cin):
        raise ValueError(f"modulated_conv2d: x {tuple(x.shape)}, weight {tuple(weight.shape)} and styles "
                         f"{tuple(styles.shape)} disagree (need weight [k, k, {cin}, Cout], styles [{b}, {cin}])")
    pad = ((k // 2, (k - 1) // 2),) * 2 if padding is None else tuple(tuple(p) for p in padding)
    dcoefs = None
    if demodulate:  # d_bj = 1 / sqrt(Σ_{taps, i} (s_bi w_tij)²) = rsqrt(s_b² · Σ_taps w_tij²)
        wsq = jnp.sum(jnp.square(weight), axis=(0, 1))  # [Cin, Cout]
        dcoefs = lax.rsqrt(jnp.square(styles) @ wsq + epsilon)  # [B, Cout]
    if impl == "scaled":
        y = conv2d(x * styles[:, None, None, :].astype(x.dtype), weight, (1, 1), pad, impl=conv_impl)
        return y if dcoefs is None else y * dcoefs[:, None, None, :].astype(y.dtype)
    w = weight[None] * styles[:, None, None, :, None]  # [B, k, k, Cin, Cout]
    if dcoefs is not None:
        w = w * dcoefs[:, None, None, None, :]
    if impl == "batched_gemm":
        patches = jax.vmap(lambda xb: _im2col(xb[None], k, pad)[0])(x)  # [B, H', W', k·k·Cin]
        return jnp.einsum("bhwk,bko->bhwo", patches, w.reshape(b, k * k * cin, cout))
    # grouped: x as one image with B·Cin channels, weights [k, k, Cin, B·Cout], B groups.
    xg = jnp.transpose(x, (1, 2, 0, 3)).reshape(1, x.shape[1], x.shape[2], b * cin)
    wg = jnp.transpose(w, (1, 2, 3, 0, 4)).reshape(k, k, cin, b * cout)
    y = lax.conv_general_dilated(xg, wg, (1, 1), pad, dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                 feature_group_count=b)
    return jnp.transpose(y.reshape(y.shape[1], y.shape[2], b, cout), (2, 0, 1, 3))


def _im2col(x: Array, k: int, pad) -> Array:
    """[N, H, W, C] -> [N, H', W', k·k·C] patches under `pad`, tap-major (as `kernel.reshape(k·k·C, ·)`)."""
    if k == 1 and all(p == 0 for side in pad for p in side):
        return x
    eye = jnp.eye(k * k * x.shape[-1], dtype=x.dtype).reshape(k, k, x.shape[-1], -1)
    return _conv2d_gemm(x, eye, (1, 1), pad)


def upsample_for_conv(x: Array, f: np.ndarray, kernel_size: int, factor: int = 2) -> Array:
    """FIR x`factor` upsampling with a border of kernel_size // 2 pixels on each side, so that a 'valid'
    k x k correlation with the spatially flipped kernel afterwards equals the official StyleGAN 2 up-conv
    (transposed conv with stride 2, then the [1, 3, 3, 1] blur with padding 1 and gain 4) everywhere,
    borders included (tested against that formula)."""
    k = f.shape[0]
    p0, p1 = (k + factor - 1) // 2 + kernel_size // 2, (k - factor) // 2 + kernel_size // 2
    return upfirdn2d(x, f, up=factor, padding=(p0, p1, p0, p1), gain=factor ** 2)


class ModulatedConv(nn.Module):
    """StyleGAN2 modulated conv layer: style affine (bias init 1), kxk weight (equalized lr), optional x2
    FIR upsampling first, (de)modulation, noise, bias and lrelu. Call as `layer(x, w, noise_mode=...,
    noise_strength=...)`; random noise uses the 'noise' RNG stream."""

    features: int
    kernel_size: int = 3
    up: int = 1
    demodulate: bool = True
    use_noise: bool = True
    activation: str = "lrelu"
    impl: str = "scaled"
    resample_filter: Sequence[float] = (1, 3, 3, 1)
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x: Array, w: Array, noise_mode: str = "random", noise_strength: float = 1.0) -> Array:
        k, cin = self.kernel_size, x.shape[-1]
        styles = EqualizedDense(cin, bias_init=1.0, name="affine")(w)
        weight = self.param("kernel", nn.initializers.normal(1.0), (k, k, cin, self.features))
        weight = weight * (1.0 / math.sqrt(k * k * cin))
        padding = None
        if self.up > 1:  # as EqualizedConv: the official transposed conv + blur, exactly
            x = upsample_for_conv(x, setup_filter(self.resample_filter), k, self.up)
            weight, padding = weight[::-1, ::-1], ((0, 0), (0, 0))
        y = modulated_conv2d(x, weight.astype(x.dtype), styles.astype(x.dtype), self.demodulate, self.impl,
                             conv_impl=self.conv_impl, padding=padding)
        if self.use_noise:
            y = NoiseInjection(per_channel=False, name="noise")(y, noise_mode, noise_strength)
        y = y + self.param("bias", nn.initializers.zeros, (self.features,)).astype(y.dtype)
        return lrelu(y) if self.activation == "lrelu" else y


class ToRGB(nn.Module):
    """1x1 modulated conv without demodulation + bias: features -> image channels (StyleGAN2)."""

    channels: int = 3
    impl: str = "scaled"
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x: Array, w: Array) -> Array:
        return ModulatedConv(self.channels, kernel_size=1, demodulate=False, use_noise=False, activation="linear",
                             impl=self.impl, conv_impl=self.conv_impl, name="conv")(x, w)


class NoiseInjection(nn.Module):
    """x + strength · scale · n, n [B, H, W, 1] ~ N(0, 1); scale learned per channel (StyleGAN 1) or a scalar
    (StyleGAN 2), initialised at 0. noise_mode: 'random' draws n from the 'noise' RNG stream, 'const' uses a
    fixed map stored in the 'noise_const' collection at init, 'none' adds nothing."""

    per_channel: bool = False

    @nn.compact
    def __call__(self, x: Array, noise_mode: str = "random", strength: float = 1.0) -> Array:
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        scale = self.param("strength", nn.initializers.zeros, (x.shape[-1] if self.per_channel else 1,))
        const = self.variable("noise_const", "map",
                              lambda: jax.random.normal(self.make_rng("params"), (1, *x.shape[1:3], 1)))
        if noise_mode == "none":
            return x
        if noise_mode == "const":
            n = const.value
        else:
            n = jax.random.normal(self.make_rng("noise"), (x.shape[0], *x.shape[1:3], 1), x.dtype)
        return x + (strength * scale).astype(x.dtype) * n.astype(x.dtype)


class AdaIN(nn.Module):
    """StyleGAN 1 adaptive instance norm: (x − μ(x)) / σ(x) · y_s + y_b, (y_s, y_b) = affine(w), y_s biased at 1."""

    epsilon: float = 1e-8

    @nn.compact
    def __call__(self, x: Array, w: Array) -> Array:
        c = x.shape[-1]
        ys = EqualizedDense(c, bias_init=1.0, name="style_scale")(w)
        yb = EqualizedDense(c, name="style_bias")(w)
        xf = x.astype(jnp.float32)
        mean = jnp.mean(xf, axis=(1, 2), keepdims=True)
        xf = (xf - mean) * lax.rsqrt(jnp.mean(jnp.square(xf - mean), axis=(1, 2), keepdims=True) + self.epsilon)
        return (xf * ys[:, None, None, :] + yb[:, None, None, :]).astype(x.dtype)
