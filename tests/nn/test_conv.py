"""Conv / ConvTranspose: parity with flax (and torch when installed), shapes, errors."""

import flax.linen as fnn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genvision_jax.nn import Conv, ConvTranspose
from genvision_jax.nn.conv import _phase_kernel, conv_impl, conv_transpose_impl

TOL = 1e-5
IMPLS = ("gemm", "xla")


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _random(shape, seed, scale=0.5):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape) * scale, jnp.float32)


def _random_params(module, x, seed):
    """Random params (nonzero bias too) with the module's param shapes, without running it."""
    shapes = jax.eval_shape(module.init, jax.random.key(0), x)
    return jax.tree.map(lambda s: _random(s.shape, seed), shapes)


def _output_and_grads(module, params, x, cotangent):
    """Forward output and d<y, cotangent>/d(params, x)."""

    def loss(params, x):
        y = module.apply(params, x)
        return jnp.sum(y * cotangent), y

    (_, y), (g_params, g_x) = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(params, x)
    return y, g_params, g_x


def _assert_parity(ours, reference, x, seed=0):
    params = _random_params(ours, x, seed)
    cotangent = _random(jax.eval_shape(reference.apply, params, x).shape, seed + 1)
    both = jax.jit(lambda p, x, g: (_output_and_grads(ours, p, x, g), _output_and_grads(reference, p, x, g)))
    (y, g_params, g_x), (y_r, g_params_r, g_x_r) = both(params, x, cotangent)
    assert y.shape == y_r.shape
    np.testing.assert_allclose(y, y_r, atol=TOL, rtol=0)
    np.testing.assert_allclose(g_x, g_x_r, atol=TOL, rtol=0)
    for name in ("kernel", "bias"):
        np.testing.assert_allclose(g_params["params"][name], g_params_r["params"][name], atol=TOL, rtol=0)
    return y


# (input H, W, Cin, Cout, kernel, stride, padding)
CONV_CASES = {
    "dcgan_d_k4s2p1": (8, 8, 3, 4, 4, 2, 1),
    "dcgan_d_final_k4s1p0": (4, 4, 4, 1, 4, 1, 0),
    "k3s1p1": (6, 6, 3, 5, 3, 1, 1),
    "k5s2p2_rect_input": (7, 10, 2, 3, 5, 2, 2),
    "k3s2p0_odd_size": (9, 7, 3, 2, 3, 2, 0),
    "rect_kernel_stride_pad": (7, 8, 3, 4, (3, 5), (2, 1), (1, 2)),
    "k1s1": (5, 4, 6, 3, 1, 1, 0),
    "k1s2": (5, 6, 3, 4, 1, 2, 0),
    "k2s3p1": (8, 7, 2, 3, 2, 3, 1),
}


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("case", CONV_CASES.values(), ids=CONV_CASES.keys())
def test_conv_matches_flax(case, impl):
    h, w, cin, cout, k, s, p = case
    x = _random((2, h, w, cin), 10)
    ph, pw = _pair(p)
    ours = Conv(cout, k, s, p, impl=impl)
    reference = fnn.Conv(cout, _pair(k), _pair(s), padding=((ph, ph), (pw, pw)))
    y = _assert_parity(ours, reference, x)
    (kh, kw), (sh, sw) = _pair(k), _pair(s)
    assert y.shape == (2, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1, cout)


# (input H, W, Cin, Cout, kernel, stride, padding, output_padding)
CONV_T_CASES = {
    "dcgan_g_k4s2p1": (4, 4, 4, 3, 4, 2, 1, 0),
    "dcgan_g_first_k4s1p0_1to4": (1, 1, 5, 4, 4, 1, 0, 0),
    "1x1_input_k3s2p1op1": (1, 1, 3, 2, 3, 2, 1, 1),
    "1x1_input_k2s3op2_rect_kernel": (1, 1, 2, 3, (2, 3), 3, 0, 2),
    "k3s2p1op1": (4, 5, 3, 2, 3, 2, 1, 1),
    "k5s2p2op1": (3, 4, 2, 3, 5, 2, 2, 1),
    "k3s1p1": (5, 4, 3, 3, 3, 1, 1, 0),
    "k2s3_k_lt_s": (3, 3, 2, 3, 2, 3, 0, 2),
    "k1s2_k_lt_s": (3, 4, 3, 2, 1, 2, 0, 1),
    "k5s3p4op2_pad_gt_stride": (4, 3, 2, 2, 5, 3, 4, 2),
    "k4s2p0_rect_input": (3, 5, 2, 4, 4, 2, 0, 0),
    "rect_kernel_stride": (3, 4, 3, 2, (3, 4), (2, 3), (1, 0), (1, 2)),
}


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("case", CONV_T_CASES.values(), ids=CONV_T_CASES.keys())
def test_conv_transpose_matches_flax(case, impl):
    h, w, cin, cout, k, s, p, op = case
    x = _random((2, h, w, cin), 20)
    (kh, kw), (sh, sw), (ph, pw), (oph, opw) = map(_pair, (k, s, p, op))
    ours = ConvTranspose(cout, k, s, p, op, impl=impl)
    # torch semantics in lax.conv_transpose terms: pad the dilated input by (k-1-p, k-1-p+op).
    reference = fnn.ConvTranspose(
        cout, (kh, kw), (sh, sw), padding=((kh - 1 - ph, kh - 1 - ph + oph), (kw - 1 - pw, kw - 1 - pw + opw)),
        transpose_kernel=True,
    )
    y = _assert_parity(ours, reference, x)
    assert y.shape == (2, (h - 1) * sh - 2 * ph + kh + oph, (w - 1) * sw - 2 * pw + kw + opw, cout)


def test_auto_impl_rule():
    """(forward, dx, dw) per shape on CPU, as measured in the comment above conv_impl."""
    same = ((1, 1), (1, 1))
    assert conv_impl((1, 1, 8, 8), (1, 1), ((0, 0), (0, 0))) == ("gemm",) * 3  # 1x1: a plain matmul
    assert conv_impl((3, 3, 128, 128), (1, 1), same, out_hw=(32, 32)) == ("xla", "xla", "gemm")
    assert conv_impl((3, 3, 16, 16), (1, 1), same, out_hw=(32, 32)) == ("xla",) * 3  # < 32 channels
    assert conv_impl((3, 3, 160, 32), (1, 1), same, out_hw=(32, 32)) == ("xla",) * 3  # RRDB: < 128 channels
    assert conv_impl((4, 4, 64, 128), (2, 2), same, out_hw=(16, 16)) == ("xla",) * 3  # DCGAN D2
    assert conv_impl((4, 4, 256, 512), (2, 2), same, out_hw=(4, 4)) == ("xla", "gemm", "xla")  # D4
    assert conv_impl((4, 4, 3, 64), (2, 2), same, out_hw=(32, 32)) == ("xla", "xla", "gemm")  # D1
    assert conv_impl((4, 4, 3, 64), (2, 2), same, impl="gemm") == ("gemm",) * 3
    # DCGAN generator: phase conv 2x2 window, 128 -> 4*64 channels, padded beyond 'same'.
    assert conv_transpose_impl((32, 32), (4, 4, 64, 128), (2, 2), (1, 1), (0, 0)) == ("xla", "xla", "gemm")
    assert conv_transpose_impl((32, 32), (4, 4, 3, 64), (2, 2), (1, 1), (0, 0)) == ("xla", "xla", "gemm")
    assert conv_transpose_impl((1, 1), (4, 4, 3, 64), (1, 1), (0, 0), (0, 0), impl="xla") == ("gemm",) * 3
    with pytest.raises(ValueError, match="impl must be one of"):
        conv_impl((3, 3, 4, 4), (1, 1), same, impl="fast")


@pytest.mark.parametrize(
    "module,reference,size",
    [
        (Conv(128, 3, 1, 1), fnn.Conv(128, (3, 3), padding=((1, 1), (1, 1))), 6),  # xla, xla, gemm
        (Conv(32, 4, 2, 1), fnn.Conv(32, (4, 4), (2, 2), padding=((1, 1), (1, 1))), 8),  # xla, gemm, xla
        (ConvTranspose(32, 4, 2, 1), fnn.ConvTranspose(32, (4, 4), (2, 2), padding=((2, 2), (2, 2)),
                                                       transpose_kernel=True), 5),  # xla, xla, gemm
    ],
    ids=["conv_s1", "conv_s2", "conv_t"],
)
def test_split_formulations_match_flax(module, reference, size):
    """impl='auto' with >= 32 channels mixes formulations across forward, dx and dw (custom VJP)."""
    x = _random((2, size, size, 128 if module.features == 128 else 32), 7)
    _assert_parity(module, reference, x)


@pytest.mark.parametrize(
    "module,reference",
    [
        (Conv(32, 4, 2, 1), fnn.Conv(32, (4, 4), (2, 2), padding=((1, 1), (1, 1)))),
        (ConvTranspose(8, 4, 2, 1), fnn.ConvTranspose(8, (4, 4), (2, 2), padding=((2, 2), (2, 2)), transpose_kernel=True)),
    ],
    ids=["conv", "conv_t"],
)
def test_auto_impl_matches_flax(module, reference):
    x = _random((2, 4, 5, 32), 40)
    assert _assert_parity(module, reference, x).shape[1:3] == ((2, 2) if isinstance(module, Conv) else (8, 10))


@pytest.mark.parametrize(
    "h,k,s,p,op,expected",  # expected from torch's formula (H-1)*s - 2p + k + op, written out
    [(1, 4, 1, 0, 0, 4), (4, 4, 2, 1, 0, 8), (32, 4, 2, 1, 0, 64), (5, 3, 2, 1, 1, 10), (3, 2, 3, 0, 2, 10),
     (4, 5, 3, 4, 2, 8), (2, 1, 2, 0, 0, 3)],
)
def test_conv_transpose_output_size(h, k, s, p, op, expected):
    y = jax.eval_shape(ConvTranspose(2, k, s, p, op).init_with_output, jax.random.key(0), jnp.ones((1, h, h + 1, 3)))[0]
    assert y.shape == (1, expected, expected + s, 2)


def test_param_tree_matches_flax():
    x = jnp.ones((1, 6, 6, 3))
    shapes = lambda m: jax.tree.map(jnp.shape, jax.eval_shape(m.init, jax.random.key(0), x))
    assert shapes(Conv(5, (3, 4))) == shapes(fnn.Conv(5, (3, 4)))
    assert shapes(ConvTranspose(5, (3, 4), 2)) == shapes(fnn.ConvTranspose(5, (3, 4), 2, transpose_kernel=True))
    assert shapes(ConvTranspose(5, 3))["params"]["kernel"] == (3, 3, 5, 3)  # (kh, kw, Cout, Cin)
    assert "bias" not in shapes(Conv(5, 3, use_bias=False))["params"]


def test_default_init_matches_flax():
    x = jnp.ones((1, 4, 4, 3))
    key = jax.random.key(3)
    ours = jax.jit(ConvTranspose(4, 4, 2).init)(key, x)
    theirs = jax.jit(fnn.ConvTranspose(4, (4, 4), (2, 2), transpose_kernel=True).init)(key, x)
    np.testing.assert_array_equal(ours["params"]["kernel"], theirs["params"]["kernel"])


@pytest.mark.parametrize("k,s,window,phases", [(4, 2, 2, 2), (3, 2, 2, 2), (5, 3, 2, 3), (2, 3, 1, 2), (4, 1, 4, 1)])
def test_phase_kernel_has_no_inserted_zeros(k, s, window, phases):
    # One stride-1 conv with a ceil(k/s) window and only the min(s,k)^2 phases a tap reaches.
    kernel = _random((k, k, 3, 2), 0)
    phase_kernel = _phase_kernel(kernel, (s, s))
    assert phase_kernel.shape == (window, window, 2, phases * phases * 3)
    np.testing.assert_allclose(jnp.sum(phase_kernel), jnp.sum(kernel), rtol=1e-5)  # every tap exactly once


@pytest.mark.parametrize("dtype", [None, jnp.bfloat16])
def test_dtype_follows_flax(dtype):
    x = jnp.ones((1, 4, 4, 3), jnp.bfloat16)
    ours = ConvTranspose(2, 4, 2, 1, dtype=dtype)
    theirs = fnn.ConvTranspose(2, (4, 4), (2, 2), padding=((2, 2), (2, 2)), transpose_kernel=True, dtype=dtype)
    params = _random_params(ours, x, 0)
    assert jax.eval_shape(ours.apply, params, x).dtype == jax.eval_shape(theirs.apply, params, x).dtype
    assert params["params"]["kernel"].dtype == jnp.float32


@pytest.mark.parametrize(
    "module,x_shape,match",
    [
        (Conv(4, 3), (8, 8, 3), r"4-D NHWC input .* got shape \(8, 8, 3\)"),
        (ConvTranspose(4, 3), (1, 2, 8, 8, 3), r"4-D NHWC input"),
        (Conv(4, 3, stride=0), (1, 8, 8, 3), r"stride must be positive, got 0"),
        (ConvTranspose(4, 3, stride=(2, -1)), (1, 8, 8, 3), r"stride must be positive"),
        (Conv(4, 0), (1, 8, 8, 3), r"kernel_size must be positive"),
        (Conv(4, (3, 3, 3)), (1, 8, 8, 3), r"kernel_size must be an int or a pair"),
        (Conv(4, 3, padding=-1), (1, 8, 8, 3), r"padding must be non-negative"),
        (Conv(4, 5), (1, 3, 8, 3), r"output would be empty: padded input 3x8"),
        (ConvTranspose(4, 3, stride=1, padding=2), (1, 1, 1, 3), r"padding \(2, 2\) is too large: output would be -1x-1"),
        (ConvTranspose(4, 4, stride=2, output_padding=2), (1, 4, 4, 3), r"output_padding \(2, 2\) must be smaller than stride"),
        (Conv(4, 3, impl="cudnn"), (1, 8, 8, 3), r"impl must be one of"),
        (ConvTranspose(4, 4, impl="cudnn"), (1, 1, 1, 3), r"impl must be one of"),
    ],
)
def test_errors(module, x_shape, match):
    with pytest.raises(ValueError, match=match):
        jax.eval_shape(module.init, jax.random.key(0), jnp.ones(x_shape))


@pytest.mark.parametrize(
    "module,in_axis", [(Conv(4, 3, padding=1), 2), (ConvTranspose(4, 3, stride=2), 3)], ids=["conv", "conv_t"]
)
def test_channel_mismatch_with_existing_params(module, in_axis):
    params = _random_params(module, jnp.ones((1, 5, 5, 3)), 0)
    assert params["params"]["kernel"].shape[in_axis] == 3
    with pytest.raises(ValueError, match=r"input has 2 channels but the existing kernel .* expects 3"):
        module.apply(params, jnp.ones((1, 5, 5, 2)))


# ---- independent reference: PyTorch CPU ------------------------------------------------------


def _torch_weight(torch, kernel):
    """Ours (kh, kw, B, A) -> torch (A, B, kh, kw); inverse of the documented w.transpose(2, 3, 1, 0)."""
    return torch.tensor(np.asarray(kernel).transpose(3, 2, 0, 1).copy(), requires_grad=True)


def _torch_parity(module, torch_op, x, **torch_kwargs):
    torch = pytest.importorskip("torch")
    params = _random_params(module, x, 31)
    cotangent = _random(jax.eval_shape(module.apply, params, x).shape, 32)
    y, g_params, g_x = jax.jit(lambda p, x, g: _output_and_grads(module, p, x, g))(params, x, cotangent)

    x_t = torch.tensor(np.asarray(x).transpose(0, 3, 1, 2).copy(), requires_grad=True)
    w_t = _torch_weight(torch, params["params"]["kernel"])
    b_t = torch.tensor(np.asarray(params["params"]["bias"]), requires_grad=True)
    y_t = torch_op(x_t, w_t, b_t, **torch_kwargs)
    (y_t * torch.tensor(np.asarray(cotangent).transpose(0, 3, 1, 2).copy())).sum().backward()

    np.testing.assert_allclose(y, y_t.detach().numpy().transpose(0, 2, 3, 1), atol=TOL, rtol=0)
    np.testing.assert_allclose(g_x, x_t.grad.numpy().transpose(0, 2, 3, 1), atol=TOL, rtol=0)
    np.testing.assert_allclose(g_params["params"]["kernel"], w_t.grad.numpy().transpose(2, 3, 1, 0), atol=TOL, rtol=0)
    np.testing.assert_allclose(g_params["params"]["bias"], b_t.grad.numpy(), atol=TOL, rtol=0)


@pytest.mark.parametrize("impl", ("gemm", "xla"))
@pytest.mark.parametrize(
    "case", [CONV_CASES[c] for c in ("dcgan_d_k4s2p1", "rect_kernel_stride_pad", "k1s2")], ids=str
)
def test_conv_matches_torch(case, impl):
    torch = pytest.importorskip("torch")
    h, w, cin, cout, k, s, p = case
    _torch_parity(Conv(cout, k, s, p, impl=impl), torch.nn.functional.conv2d, _random((2, h, w, cin), 30),
                  stride=_pair(s), padding=_pair(p))


@pytest.mark.parametrize("impl", ("gemm", "xla"))
@pytest.mark.parametrize(
    "case",
    [CONV_T_CASES[c] for c in ("dcgan_g_k4s2p1", "dcgan_g_first_k4s1p0_1to4", "k5s3p4op2_pad_gt_stride",
                               "rect_kernel_stride")],
    ids=str,
)
def test_conv_transpose_matches_torch(case, impl):
    torch = pytest.importorskip("torch")
    h, w, cin, cout, k, s, p, op = case
    _torch_parity(ConvTranspose(cout, k, s, p, op, impl=impl), torch.nn.functional.conv_transpose2d,
                  _random((2, h, w, cin), 30), stride=_pair(s), padding=_pair(p), output_padding=_pair(op))


@pytest.mark.parametrize("size, kernel, stride, padding", [
    ((17, 23), 3, 1, "SAME"), ((17, 23), 3, 2, "SAME"), ((16, 16), 5, 2, "SAME"), ((9, 12), 5, 1, "SAME"),
    ((11, 13), 3, 2, 1), ((10, 10), (3, 5), 1, (1, 2)),
])
def test_depthwise_conv_matches_flax_grouped_conv_outputs_and_gradients(size, kernel, stride, padding):
    """Our shifted-slice depthwise conv vs flax's grouped conv (feature_group_count = C) with the same params."""
    import flax.linen as fnn

    from genvision_jax.nn import DepthwiseConv

    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, *size, 6)).astype(np.float32))
    ours = DepthwiseConv(kernel, stride, padding)
    params = ours.init(jax.random.key(1), x)
    ks = kernel if isinstance(kernel, tuple) else (kernel, kernel)
    pad = padding if padding == "SAME" else [(p, p) for p in (padding if isinstance(padding, tuple) else (padding,) * 2)]
    ref = fnn.Conv(6, ks, strides=stride, padding=pad, feature_group_count=6)
    assert params["params"]["kernel"].shape == (*ks, 1, 6)

    def loss(fn, p, x):
        return jnp.sum(jnp.sin(fn(p, x)))

    a, b = ours.apply(params, x), ref.apply(params, x)
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    ga = jax.grad(lambda p, x: loss(ours.apply, p, x), argnums=(0, 1))(params, x)
    gb = jax.grad(lambda p, x: loss(ref.apply, p, x), argnums=(0, 1))(params, x)
    jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-4), ga, gb)
