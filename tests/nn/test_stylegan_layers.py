"""StyleGAN layers against their definitions: upfirdn2d vs a direct FIR convolution, modulated convolution vs
explicit per-sample convolutions, demodulation's unit-variance claim, equalized learning rate, noise, AdaIN."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from scipy.signal import convolve2d

from genvision_jax.nn import stylegan as S


def _direct_upfirdn(x, f2, up, down, pad):
    """The reference definition, numpy: zero insertion, padding (negative crops), true 2-D convolution, decimation."""
    n, h, w, c = x.shape
    u = np.zeros((n, h * up, w * up, c), x.dtype)
    u[:, ::up, ::up] = x
    x0, x1, y0, y1 = pad
    u = np.pad(u, ((0, 0), (max(y0, 0), max(y1, 0)), (max(x0, 0), max(x1, 0)), (0, 0)))
    u = u[:, max(-y0, 0):u.shape[1] - max(-y1, 0), max(-x0, 0):u.shape[2] - max(-x1, 0)]
    out = np.stack([np.stack([convolve2d(u[i, :, :, ch], f2, mode="valid") for ch in range(c)], -1)
                    for i in range(n)])
    return out[:, ::down, ::down]


@pytest.mark.parametrize("up,down,pad", [(1, 1, (2, 1, 2, 1)), (2, 1, (2, 1, 2, 1)), (1, 2, (1, 1, 1, 1)),
                                         (2, 2, (1, 2, 0, 3)), (1, 1, (-1, 2, 1, -1))])
def test_upfirdn2d_equals_direct_fir_convolution(up, down, pad):
    x = np.random.RandomState(0).randn(2, 7, 9, 3).astype(np.float32)
    f = np.array([1.0, 2.0, 5.0, 3.0], np.float32)  # asymmetric: the flip of a true convolution matters
    got = S.upfirdn2d(jnp.asarray(x), f, up=up, down=down, padding=pad, gain=3.0)
    want = _direct_upfirdn(x, np.outer(f, f) * 3.0, up, down, pad)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)
    f2 = np.random.RandomState(1).randn(3, 2).astype(np.float32)  # a non-separable 2-D filter
    got2 = S.upfirdn2d(jnp.asarray(x), f2, up=up, down=down, padding=pad)
    np.testing.assert_allclose(np.asarray(got2), _direct_upfirdn(x, f2, up, down, pad), rtol=1e-5, atol=1e-5)


def test_resampling_with_the_official_filter_and_paddings():
    f = S.setup_filter([1, 3, 3, 1])
    np.testing.assert_allclose(f, np.array([1, 3, 3, 1]) / 8)
    ones = jnp.ones((1, 8, 8, 2))
    up = np.asarray(S.upsample2d(ones, f))
    down = np.asarray(S.downsample2d(ones, f))
    assert up.shape == (1, 16, 16, 2) and down.shape == (1, 4, 4, 2)
    np.testing.assert_allclose(up[:, 2:-2, 2:-2], 1.0, rtol=1e-6)   # gain up² keeps a constant constant
    np.testing.assert_allclose(down[:, 1:-1, 1:-1], 1.0, rtol=1e-6)
    # Upsampling a single impulse gives the 4x4 official kernel f⊗f·4, placed by the official padding (2, 1).
    x = np.zeros((1, 4, 4, 1), np.float32)
    x[0, 1, 1, 0] = 1.0
    got = np.asarray(S.upsample2d(jnp.asarray(x), f))[0, :, :, 0]
    want = np.zeros((8, 8))
    want[1:5, 1:5] = np.outer(f, f) * 4
    np.testing.assert_allclose(got, want, atol=1e-6)
    # The gradient of the linear map is its transpose: <A x, y> = <x, Aᵀ y>.
    xr, yr = jax.random.normal(jax.random.key(0), (2, 6, 6, 3)), jax.random.normal(jax.random.key(1), (2, 12, 12, 3))
    _, vjp = jax.vjp(lambda v: S.upsample2d(v, f), xr)
    np.testing.assert_allclose(float(jnp.vdot(S.upsample2d(xr, f), yr)), float(jnp.vdot(xr, vjp(yr)[0])), rtol=1e-4)


def _explicit_modconv(x, weight, styles, demodulate):
    out = []
    for b in range(x.shape[0]):
        w = weight * styles[b][None, None, :, None]
        if demodulate:
            w = w / jnp.sqrt(jnp.sum(w ** 2, axis=(0, 1, 2), keepdims=True) + 1e-8)
        k = weight.shape[0]
        out.append(lax.conv_general_dilated(x[b:b + 1], w, (1, 1), ((k // 2, (k - 1) // 2),) * 2,
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))[0])
    return jnp.stack(out)


@pytest.mark.parametrize("impl", S.MODCONV_IMPLS)
@pytest.mark.parametrize("demodulate", [True, False])
@pytest.mark.parametrize("k", [1, 3])
def test_modulated_conv_equals_per_sample_convolution(impl, demodulate, k):
    kx, kw, ks = jax.random.split(jax.random.key(3), 3)
    x = jax.random.normal(kx, (3, 6, 5, 8))
    weight = jax.random.normal(kw, (k, k, 8, 4)) / math.sqrt(8 * k * k)
    styles = jax.random.normal(ks, (3, 8)) + 1.0
    got = S.modulated_conv2d(x, weight, styles, demodulate, impl)
    np.testing.assert_allclose(np.asarray(got), np.asarray(_explicit_modconv(x, weight, styles, demodulate)),
                               rtol=2e-5, atol=2e-5)
    # And its gradients agree with the explicit form's (what training uses).
    g = jax.grad(lambda s: jnp.sum(S.modulated_conv2d(x, weight, s, demodulate, impl) ** 2))(styles)
    g_ref = jax.grad(lambda s: jnp.sum(_explicit_modconv(x, weight, s, demodulate) ** 2))(styles)
    np.testing.assert_allclose(np.asarray(g), np.asarray(g_ref), rtol=1e-3, atol=1e-3)


def test_demodulation_gives_unit_std_for_unit_std_inputs():
    """The paper's assumption (§2.2): i.i.d. unit-variance inputs -> outputs of unit standard deviation,
    whatever the styles. Without demodulation the std follows the styles' scale instead."""
    kx, kw, ks = jax.random.split(jax.random.key(4), 3)
    x = jax.random.normal(kx, (8, 16, 16, 64))
    weight = jax.random.normal(kw, (3, 3, 64, 32))
    styles = jnp.exp(jax.random.normal(ks, (8, 64)))  # far from 1
    y = S.modulated_conv2d(x, weight, styles, True)
    per_sample_std = np.asarray(jnp.std(y[:, 1:-1, 1:-1], axis=(1, 2, 3)))  # interior: no zero padding
    np.testing.assert_allclose(per_sample_std, 1.0, atol=0.05)
    y_mod = S.modulated_conv2d(x, weight / math.sqrt(9 * 64), styles * 3.0, False)
    assert float(jnp.std(y_mod)) > 2.0


def test_equalized_lr_runtime_scale():
    lr_mul = 0.01
    layer = S.EqualizedDense(256, lr_mul=lr_mul, bias_init=1.0)
    x = jax.random.normal(jax.random.key(5), (4, 512))
    params = layer.init(jax.random.key(6), x)["params"]
    # Stored weights ~ N(0, 1 / lr_mul²); the runtime weight lr_mul / sqrt(fan_in) · W ~ N(0, 1 / fan_in).
    assert abs(float(jnp.std(params["kernel"])) * lr_mul - 1.0) < 0.02
    np.testing.assert_allclose(np.asarray(params["bias"]), 1.0 / lr_mul)
    y = layer.apply({"params": params}, x)
    np.testing.assert_allclose(np.asarray(y), np.asarray(x @ params["kernel"] * (lr_mul / math.sqrt(512)) + 1.0),
                               rtol=1e-4, atol=1e-4)
    # The gradient on the stored weight carries the same runtime constant.
    g = jax.grad(lambda p: jnp.sum(layer.apply({"params": p}, x)))(params)
    np.testing.assert_allclose(np.asarray(g["kernel"]),
                               np.asarray(jnp.broadcast_to(x.sum(0)[:, None], (512, 256)) * lr_mul / math.sqrt(512)),
                               rtol=1e-4, atol=1e-5)
    conv = S.EqualizedConv(8, 3)
    xc = jax.random.normal(jax.random.key(7), (2, 6, 6, 5))
    pc = conv.init(jax.random.key(8), xc)["params"]
    want = lax.conv_general_dilated(xc, pc["kernel"] / math.sqrt(45), (1, 1), ((1, 1), (1, 1)),
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"))
    np.testing.assert_allclose(np.asarray(conv.apply({"params": pc}, xc)), np.asarray(want), rtol=1e-5, atol=1e-5)


def test_strided_equalized_conv_is_blur_then_stride():
    conv = S.EqualizedConv(4, 3, down=2, use_bias=False)
    x = jax.random.normal(jax.random.key(9), (2, 8, 8, 3))
    p = conv.init(jax.random.key(10), x)["params"]
    y = conv.apply({"params": p}, x)
    assert y.shape == (2, 4, 4, 4)
    f = S.setup_filter([1, 3, 3, 1])
    blurred = S.upfirdn2d(x, f, padding=(2, 2, 2, 2))  # (4 - 2) + (3 - 1) = 4 -> (2, 2)
    want = lax.conv_general_dilated(blurred, p["kernel"] / math.sqrt(27), (2, 2), ((0, 0), (0, 0)),
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"))
    np.testing.assert_allclose(np.asarray(y), np.asarray(want), rtol=1e-5, atol=1e-5)


def test_pixel_norm_and_adain():
    x = jax.random.normal(jax.random.key(11), (3, 10)) * 5
    np.testing.assert_allclose(np.asarray(jnp.mean(S.pixel_norm(x) ** 2, -1)), 1.0, rtol=1e-5)
    ada = S.AdaIN()
    feats = jax.random.normal(jax.random.key(12), (2, 5, 5, 4)) * 3 + 2
    w = jax.random.normal(jax.random.key(13), (2, 8))
    p = ada.init(jax.random.key(14), feats, w)
    out = ada.apply(p, feats, w)
    # y_s starts at 1 + (w · W) and y_b at w · W; with the affines zeroed the output is the normalised input.
    zero = jax.tree.map(jnp.zeros_like, p)
    zero = {"params": {**zero["params"], "style_scale": {"kernel": zero["params"]["style_scale"]["kernel"],
                                                         "bias": jnp.ones((4,))}}}
    normed = ada.apply(zero, feats, w)
    np.testing.assert_allclose(np.asarray(jnp.mean(normed, (1, 2))), 0.0, atol=1e-5)
    np.testing.assert_allclose(np.asarray(jnp.std(normed, (1, 2))), 1.0, atol=1e-4)
    assert out.shape == feats.shape


def test_noise_injection_modes_and_strength():
    layer = S.NoiseInjection(per_channel=True)
    x = jnp.zeros((2, 4, 4, 3))
    v = layer.init({"params": jax.random.key(0), "noise": jax.random.key(1)}, x)
    v = {**v, "params": {"strength": jnp.array([1.0, 2.0, 3.0])}}
    rand = layer.apply(v, x, "random", rngs={"noise": jax.random.key(2)})
    # One single-channel map, scaled per channel.
    np.testing.assert_allclose(np.asarray(rand[..., 1]), 2 * np.asarray(rand[..., 0]), rtol=1e-6)
    const1 = layer.apply(v, x, "const")
    const2 = layer.apply(v, x, "const", 0.5)
    np.testing.assert_allclose(np.asarray(const1[0]), np.asarray(const1[1]))  # the same map for every sample
    np.testing.assert_allclose(np.asarray(const2), 0.5 * np.asarray(const1), rtol=1e-6)
    assert float(jnp.abs(layer.apply(v, x, "none")).max()) == 0.0
    with pytest.raises(ValueError, match="noise_mode"):
        layer.apply(v, x, "fixed")


@pytest.mark.parametrize("k", [1, 3])
def test_up_conv_equals_the_official_transposed_conv_and_blur(k):
    """StyleGAN 2's up-conv (conv2d_resample with up=2): conv_transpose2d(x, w, stride 2), then upfirdn2d with
    the [1, 3, 3, 1] filter, gain 4 and padding 1 (for k = 3; rosinality's Blur pads alike) — computed by torch
    with the official weight layout, borders included. Ours must equal it with the weights only transposed."""
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    rng = np.random.RandomState(0)
    x = rng.randn(2, 4, 5, 6).astype(np.float32)                 # NCHW
    w = rng.randn(3, 4, k, k).astype(np.float32)                 # [out, in, k, k], already scaled
    f = np.outer([1, 3, 3, 1], [1, 3, 3, 1]).astype(np.float32) / 64 * 4
    y = F.conv_transpose2d(torch.tensor(x), torch.tensor(w).transpose(0, 1), stride=2)
    p = (4 - 2) - (k - 1)
    pad0, pad1 = (p + 1) // 2 + 1, p // 2 + 1
    y = F.conv2d(F.pad(y, (pad0, pad1, pad0, pad1)), torch.tensor(f[None, None]).repeat(3, 1, 1, 1), groups=3)
    want = y.numpy().transpose(0, 2, 3, 1)
    conv = S.EqualizedConv(3, k, up=2, use_bias=False)
    params = {"params": {"kernel": jnp.asarray(w.transpose(2, 3, 1, 0) * math.sqrt(k * k * 4))}}
    got = conv.apply(params, jnp.asarray(x.transpose(0, 2, 3, 1)))
    assert got.shape == want.shape == (2, 10, 12, 3)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-4)
    # The modulated up-conv with unit styles and no demodulation is the same operation.
    mod = S.ModulatedConv(3, k, up=2, demodulate=False, use_noise=False, activation="linear")
    v = mod.init(jax.random.key(0), jnp.zeros((2, 5, 6, 4)), jnp.zeros((2, 8)))
    v = {"params": {**v["params"], "kernel": jnp.asarray(w.transpose(2, 3, 1, 0) * math.sqrt(k * k * 4)),
                    "affine": {"kernel": jnp.zeros((8, 4)), "bias": jnp.ones((4,))},
                    "bias": jnp.zeros((3,))}}
    got = mod.apply(v, jnp.asarray(x.transpose(0, 2, 3, 1)), jnp.zeros((2, 8)))
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-4)
