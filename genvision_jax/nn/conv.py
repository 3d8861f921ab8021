"""2-D convolution layers with PyTorch's kernel/stride/padding semantics, NHWC layout.

Why this module exists: XLA:CPU's native convolution kernels are slow in the backward pass, and the
weight gradient of `lax.conv_transpose` pathologically so (flax `ConvTranspose` 128->64 channels at
32^2->64^2, batch 64, fwd+bwd: ~4 s vs ~0.4 s in PyTorch CPU). So:

- `Conv` computes the convolution as im2col patches @ weights (one GEMM) or with
  `lax.conv_general_dilated`; with `impl="auto"` the forward, the input gradient and the kernel
  gradient each use the formulation measured faster for the layer's shape (a custom VJP).
- `ConvTranspose` never multiplies inserted zeros: output phase (a, b) of a stride-s transposed conv
  is an ordinary stride-1 conv of the input with the taps of the kernel that land on that phase.
  All s*s phases are computed as ONE stride-1 conv with a shared ceil(k/s)^2 window and s*s*Cout
  output channels (zeros where a phase lacks a tap), then interleaved (depth-to-space) and cropped
  for padding/output_padding.

Parameters are named and shaped as in flax, so weights swap with `flax.linen.Conv` and
`flax.linen.ConvTranspose(transpose_kernel=True)`.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import flax.linen as nn
from flax.linen.dtypes import promote_dtype
import jax
import jax.numpy as jnp
from jax import lax

Array = jax.Array
Pair = tuple[int, int]
Padding2D = tuple[Pair, Pair]

IMPLS = ("auto", "gemm", "xla", "xla_gemm")
_DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")


# --------------------------------------------------------------------------------------------
# Functional core
# --------------------------------------------------------------------------------------------


# impl="auto" on XLA:CPU picks the forward, the input gradient (dx) and the kernel gradient (dw)
# separately (a custom VJP): each is fastest in a different formulation. Milliseconds, batch 64,
# median of 5, forward / dx / dw alone, gemm vs xla (benchmarks/bench_conv.py --components):
#   3x3 s1 128->128 32^2:      fwd 357 vs 115   dx 341 vs 141   dw 444 vs 935
#   4x4 s2 64->128 32^2 (D2):  fwd 113 vs 37    dx 104 vs 82    dw 151 vs 97
#   4x4 s2 128->256 16^2 (D3): fwd 60 vs 33     dx 44 vs 57     dw 72 vs 61
#   4x4 s2 256->512 8^2 (D4):  fwd 40 vs 40     dx 32 vs 42     dw 65 vs 40
#   ConvT phase conv 2x2 128->256 16^2 (G4): fwd 67 vs 45   dx 60 vs 53   dw 82 vs 203
#   ConvT phase conv 2x2 64->12 32^2 (G5):   fwd 81 vs 9    dx 30 vs 8    dw 78 vs 118
#   4x4 s2 3->64 64^2 (D1):    fwd 10 vs 8.5    dx 11 vs 14     dw 35 vs 39
# So: the forward is XLA's (its padded convolution is fast; an explicit im2col is memory-bound);
# dx is XLA's except for strided convs with small outputs (<= 8x8); dw, where XLA:CPU's kernel gradient
# is pathological for stride 1 with many channels and for beyond-'same' padding, is the im2col GEMM
# patches^T @ g for stride-1 convs with >= 128 channels and for the phase convs of ConvTranspose, and
# XLA's for strided convs with >= 32 channels and stride-1 convs with fewer than 128 channels (batch 16:
# 3x3 64->64 64^2 dw 0.26 vs gemm 0.32 s; RRDB 3x3 160->32 32^2 0.10 vs 0.11 s, its whole step xla 0.056
# vs split 0.145 s; 3x3 128->128 64^2 dw 1.85 vs gemm 0.88 s). 1x1: GEMM.
_AUTO_MIN_GEMM_CHANNELS = 32
_AUTO_MIN_GEMM_DW_CHANNELS = 128  # stride 1 within 'same' padding
_AUTO_SMALL_OUTPUT = 64  # output pixels at or below which a strided conv's dx is a GEMM


def conv_impl(kernel_shape: Sequence[int], stride: Pair, padding: Padding2D, impl: str = "auto",
              out_hw: Pair | None = None) -> tuple[str, str, str]:
    """(forward, input-gradient, kernel-gradient) formulations, each "gemm" or "xla", that `conv2d`
    uses for an HWIO kernel shape, stride, padding pairs and output size (None: treated as large).

    An explicit impl uses that formulation for all three ("xla_gemm": XLA forward, im2col gradients). "auto": all "xla" off CPU (cuDNN / TPU
    convolutions beat an explicit im2col); on CPU the rule measured above.
    """
    if _checked(impl) == "xla_gemm":  # XLA's forward, im2col gradients (which differentiate fast again)
        return ("xla", "gemm", "gemm")
    if impl != "auto":
        return (impl, impl, impl)
    if jax.default_backend() != "cpu":
        return ("xla", "xla", "xla")
    kh, kw, cin, cout = kernel_shape
    if kh == kw == 1:
        return ("gemm", "gemm", "gemm")
    strided = tuple(stride) != (1, 1)
    small_out = out_hw is not None and out_hw[0] * out_hw[1] <= _AUTO_SMALL_OUTPUT
    dx = "gemm" if strided and small_out else "xla"
    wide = min(cin, cout) >= _AUTO_MIN_GEMM_CHANNELS
    if strided:
        dw = "xla" if wide else "gemm"
    else:
        dw = "gemm" if min(cin, cout) >= _AUTO_MIN_GEMM_DW_CHANNELS or _exceeds_same_padding((kh, kw), padding) else "xla"
    return ("xla", dx, dw)


def _checked(impl: str) -> str:
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
    return impl


def _exceeds_same_padding(kernel_hw: Pair, padding: Padding2D) -> bool:
    """True when some side is padded by more than (k-1)//2, so the output outgrows a 'same' conv."""
    return any(max(pads) > (k - 1) // 2 for k, pads in zip(kernel_hw, padding))


def _pad_spatial(x: Array, padding: Padding2D) -> Array:
    """Zero-pads (negative: crops) H and W of an NHWC array by ((top, bottom), (left, right))."""
    (pt, pb), (pl, pr) = padding
    return lax.pad(x, jnp.zeros((), x.dtype), ((0, 0, 0), (pt, pb, 0), (pl, pr, 0), (0, 0, 0)))


def _conv2d_gemm(x: Array, kernel: Array, stride: Pair, padding: Padding2D) -> Array:
    """im2col: [N,Ho,Wo,kh*kw*Cin] patches (tap-major, like kernel.reshape) @ [kh*kw*Cin, Cout]."""
    kh, kw, cin, cout = kernel.shape
    x = _pad_spatial(x, padding)
    n, hp, wp, _ = x.shape
    sh, sw = stride
    ho, wo = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    # Strided slices + concatenate: faster fwd+bwd than lax.conv_general_dilated_patches
    # (3x3 128->128 32^2 batch 64: 0.66 s vs 7.4 s) and than one GEMM per tap (1.07 s).
    taps = [
        lax.slice(x, (0, i, j, 0), (n, i + (ho - 1) * sh + 1, j + (wo - 1) * sw + 1, cin), (1, sh, sw, 1))
        for i in range(kh)
        for j in range(kw)
    ]
    patches = taps[0] if len(taps) == 1 else jnp.concatenate(taps, axis=-1)  # 1x1: a plain matmul
    return jnp.dot(patches, kernel.reshape(kh * kw * cin, cout))


def _conv2d_xla(x: Array, kernel: Array, stride: Pair, padding: Padding2D) -> Array:
    if _exceeds_same_padding(kernel.shape[:2], padding) or min(v for pads in padding for v in pads) < 0:
        # XLA:CPU's weight gradient of a conv padded beyond 'same' is pathological; pre-padding the
        # input avoids it (2x2 128->256 32^2 pad 1, batch 32: 24 s -> 1.3 s). Within 'same' padding
        # the padded conv is faster (3x3 128->128 16^2 batch 32: 0.061 s vs 0.120 s pre-padded).
        x, padding = _pad_spatial(x, padding), ((0, 0), (0, 0))
    return lax.conv_general_dilated(x, kernel, stride, padding, dimension_numbers=_DIMENSION_NUMBERS)


def _conv2d_one(impl: str):
    return _conv2d_xla if impl == "xla" else _conv2d_gemm


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv2d_split(x: Array, kernel: Array, stride: Pair, padding: Padding2D, plan: tuple[str, str, str]) -> Array:
    """conv2d with its forward, dx and dw each computed by the formulation `plan` names."""
    return _conv2d_one(plan[0])(x, kernel, stride, padding)


def _conv2d_split_fwd(x, kernel, stride, padding, plan):
    return _conv2d_split(x, kernel, stride, padding, plan), (x, kernel)


def _conv2d_split_bwd(stride, padding, plan, residuals, g):
    x, kernel = residuals
    # Each VJP's own forward output is unused, so XLA drops it: only the gradient is computed.
    _, dx_vjp = jax.vjp(lambda v: _conv2d_one(plan[1])(v, kernel, stride, padding), x)
    _, dw_vjp = jax.vjp(lambda k: _conv2d_one(plan[2])(x, k, stride, padding), kernel)
    return dx_vjp(g)[0], dw_vjp(g)[0]


_conv2d_split.defvjp(_conv2d_split_fwd, _conv2d_split_bwd)


def _out_hw(in_hw: Pair, kernel_hw: Pair, stride: Pair, padding: Padding2D) -> Pair:
    return tuple((size + sum(pads) - k) // s + 1 for size, k, s, pads in zip(in_hw, kernel_hw, stride, padding))


def conv2d(
    x: Array,
    kernel: Array,
    stride: Pair = (1, 1),
    padding: Padding2D = ((0, 0), (0, 0)),
    impl: str = "auto",
) -> Array:
    """Cross-correlation as torch.nn.functional.conv2d, NHWC: [N,H,W,Cin] x [kh,kw,Cin,Cout] -> [N,H',W',Cout].

    `padding` is ((top, bottom), (left, right)) of zeros; negative entries crop. No validation here
    (the modules validate); H' = (H + top + bottom - kh) // stride_h + 1. `impl` (see `conv_impl`)
    picks the formulation of the forward and of each gradient.
    """
    stride, padding = tuple(stride), tuple(tuple(p) for p in padding)
    plan = conv_impl(kernel.shape, stride, padding, impl, _out_hw(x.shape[1:3], kernel.shape[:2], stride, padding))
    if plan[0] == plan[1] == plan[2]:
        return _conv2d_one(plan[0])(x, kernel, stride, padding)
    return _conv2d_split(x, kernel, stride, padding, plan)


def _phase_kernel(kernel: Array, stride: Pair) -> Array:
    """[kh,kw,Cout,Cin] transposed-conv kernel -> [Mh,Mw,Cin,Rh*Rw*Cout] stride-1 conv kernel.

    M = ceil(k/s) window taps, R = min(s, k) phases that receive any tap (phases >= k are zero).
    Window position t, phase r holds kernel tap r + s*(M-1-t), zero when that is >= k.
    """
    kh, kw, cout, cin = kernel.shape
    (sh, sw) = stride
    mh, mw = -(-kh // sh), -(-kw // sw)
    rh, rw = min(sh, kh), min(sw, kw)
    k = jnp.pad(kernel, ((0, mh * sh - kh), (0, mw * sw - kw), (0, 0), (0, 0)))
    k = k.reshape(mh, sh, mw, sw, cout, cin)[::-1, :rh, ::-1, :rw]  # [t_h, r_h, t_w, r_w, o, c]
    return k.transpose(0, 2, 5, 1, 3, 4).reshape(mh, mw, cin, rh * rw * cout)


def _phase_geometry(in_hw: Pair, kernel_hw: Pair, stride: Pair, padding: Pair, output_padding: Pair):
    """Per spatial dim: (output size, padding of the stride-1 phase conv, first phase row q0).

    Full output row Y = q*s + r; output row y is full row y + padding, so rows q0..q1 are needed.
    """
    geometry = []
    for size, k, s, p, op in zip(in_hw, kernel_hw, stride, padding, output_padding):
        out = (size - 1) * s - 2 * p + k + op
        q0, q1 = p // s, (p + out - 1) // s
        geometry.append((out, (-(-k // s) - 1 - q0, q1 - (size - 1)), q0))
    return geometry


def conv_transpose_impl(
    in_hw: Pair, kernel_shape: Sequence[int], stride: Pair, padding: Pair, output_padding: Pair, impl: str = "auto"
) -> tuple[str, str, str]:
    """The (forward, dx, dw) formulations `conv_transpose2d` uses for its phase conv, for a
    [kh,kw,Cout,Cin] kernel shape."""
    kh, kw, cout, cin = kernel_shape
    if tuple(in_hw) == (1, 1):
        _checked(impl)
        return ("gemm", "gemm", "gemm")  # see conv_transpose2d
    geometry = _phase_geometry(in_hw, (kh, kw), stride, padding, output_padding)
    phase_shape = (-(-kh // stride[0]), -(-kw // stride[1]), cin, min(stride[0], kh) * min(stride[1], kw) * cout)
    phase_padding = tuple(g[1] for g in geometry)
    return conv_impl(phase_shape, (1, 1), phase_padding, impl,
                     _out_hw(in_hw, phase_shape[:2], (1, 1), phase_padding))


def conv_transpose2d(
    x: Array,
    kernel: Array,
    stride: Pair = (1, 1),
    padding: Pair = (0, 0),
    output_padding: Pair = (0, 0),
    impl: str = "auto",
) -> Array:
    """torch.nn.functional.conv_transpose2d in NHWC: [N,H,W,Cin] x [kh,kw,Cout,Cin] -> [N,H',W',Cout].

    H' = (H-1)*stride - 2*padding + kh + output_padding. Computed by phase decomposition: full
    output row Y = q*s + r receives sum_m x[q-m] * kernel[r + s*m], a stride-1 conv per phase r.
    `impl` picks how that stride-1 conv (all phases at once) is computed. For stride 1 this is a
    plain conv with the flipped kernel; a 1x1 input is always one GEMM.
    """
    _checked(impl)
    n, h, w, _ = x.shape
    kh, kw, cout, _ = kernel.shape
    (out_h, pad_h, q0_h), (out_w, pad_w, q0_w) = _phase_geometry((h, w), (kh, kw), stride, padding, output_padding)
    if h == w == 1:
        # Latent -> kxk projection: one GEMM [N,Cin] @ [Cin,kh*kw*Cout], then crop/pad. The phase conv
        # would multiply the (k-1)^2 zeros padded around the single pixel (G1 100->512 1->4: 10x FLOPs).
        y = jnp.dot(x.reshape(n, -1), kernel.transpose(3, 0, 1, 2).reshape(-1, kh * kw * cout))
        (ph, pw), (oph, opw) = padding, output_padding
        return _pad_spatial(y.reshape(n, kh, kw, cout), ((-ph, oph - ph), (-pw, opw - pw)))
    y = conv2d(x, _phase_kernel(kernel, stride), (1, 1), (pad_h, pad_w), impl)
    (sh, sw), (rh, rw) = stride, (min(stride[0], kh), min(stride[1], kw))
    qh, qw = y.shape[1], y.shape[2]
    y = y.reshape(n, qh, qw, rh, rw, cout)
    if (rh, rw) != (sh, sw):  # k < s: phases no tap reaches are zero
        y = jnp.pad(y, ((0, 0), (0, 0), (0, 0), (0, sh - rh), (0, sw - rw), (0, 0)))
    y = y.transpose(0, 1, 3, 2, 4, 5).reshape(n, qh * sh, qw * sw, cout)  # depth-to-space
    top, left = padding[0] - q0_h * sh, padding[1] - q0_w * sw
    return y[:, top : top + out_h, left : left + out_w]


# --------------------------------------------------------------------------------------------
# Modules
# --------------------------------------------------------------------------------------------


def _pair(value: int | Sequence[int], name: str, layer: str, minimum: int) -> Pair:
    """int or 2-sequence of ints -> (h, w), each >= minimum."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) for v in pair):
        raise ValueError(f"{layer}: {name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        bound = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{layer}: {name} must be {bound}, got {value!r}")
    return pair


def _check_input(x: Array, layer: str) -> None:
    if x.ndim != 4:
        raise ValueError(f"{layer} expects a 4-D NHWC input [N, H, W, C], got shape {tuple(x.shape)}")


def _kernel_param(module: nn.Module, shape: tuple[int, ...], in_axis: int) -> Array:
    """The 'kernel' param, with a clear error when the input's channels disagree with existing params."""
    if module.has_variable("params", "kernel"):
        existing = tuple(module.get_variable("params", "kernel").shape)
        if len(existing) == 4 and existing[in_axis] != shape[in_axis]:
            raise ValueError(
                f"{type(module).__name__}: input has {shape[in_axis]} channels but the existing kernel "
                f"of shape {existing} expects {existing[in_axis]}"
            )
    return module.param("kernel", module.kernel_init, shape, module.param_dtype)


class Conv(nn.Module):
    """2-D convolution, torch.nn.Conv2d semantics, NHWC: [N,H,W,Cin] -> [N,H',W',features].

    H' = (H + 2*padding - kernel) // stride + 1. Params: 'kernel' [kh,kw,Cin,Cout], 'bias' [Cout]
    (as flax.linen.Conv). From a torch Conv2d weight [Cout,Cin,kh,kw]: kernel = w.transpose(2,3,1,0).
    impl: "gemm" (im2col patches @ weights), "xla" (lax.conv_general_dilated), or "auto" (for the
    forward and each gradient the one measured faster on XLA:CPU for this shape; "xla" on other backends).
    """

    features: int
    kernel_size: int | tuple[int, int]
    stride: int | tuple[int, int] = 1
    padding: int | tuple[int, int] = 0
    use_bias: bool = True
    dtype: Any = None  # computation dtype; None: promote inputs and params (float32 by default)
    param_dtype: Any = jnp.float32
    kernel_init: Any = nn.initializers.lecun_normal()
    bias_init: Any = nn.initializers.zeros_init()
    impl: str = "auto"

    @nn.compact
    def __call__(self, x: Array) -> Array:
        name = type(self).__name__
        _check_input(x, name)
        kh, kw = _pair(self.kernel_size, "kernel_size", name, 1)
        stride = _pair(self.stride, "stride", name, 1)
        ph, pw = _pair(self.padding, "padding", name, 0)
        h, w, cin = x.shape[1], x.shape[2], x.shape[3]
        if h + 2 * ph < kh or w + 2 * pw < kw:
            raise ValueError(
                f"{name}: output would be empty: padded input {h + 2 * ph}x{w + 2 * pw} "
                f"(input {h}x{w}, padding {(ph, pw)}) is smaller than the kernel {kh}x{kw}"
            )
        kernel = _kernel_param(self, (kh, kw, cin, self.features), in_axis=2)
        bias = self.param("bias", self.bias_init, (self.features,), self.param_dtype) if self.use_bias else None
        x, kernel, bias = promote_dtype(x, kernel, bias, dtype=self.dtype)
        y = conv2d(x, kernel, stride, ((ph, ph), (pw, pw)), self.impl)
        return y if bias is None else y + bias


class ConvTranspose(nn.Module):
    """2-D transposed convolution, torch.nn.ConvTranspose2d semantics, NHWC: [N,H,W,Cin] -> [N,H',W',features].

    H' = (H-1)*stride - 2*padding + kernel + output_padding (0 <= output_padding < stride).
    Params: 'kernel' [kh,kw,Cout,Cin], 'bias' [Cout] (as flax.linen.ConvTranspose(transpose_kernel=True)).
    From a torch ConvTranspose2d weight [Cin,Cout,kh,kw]: kernel = w.transpose(2,3,1,0).
    Computed by stride^2 phase decomposition (no multiplications by inserted zeros); impl picks how
    the resulting stride-1 conv is computed, as in `Conv`.
    """

    features: int
    kernel_size: int | tuple[int, int]
    stride: int | tuple[int, int] = 1
    padding: int | tuple[int, int] = 0
    output_padding: int | tuple[int, int] = 0
    use_bias: bool = True
    dtype: Any = None  # computation dtype; None: promote inputs and params (float32 by default)
    param_dtype: Any = jnp.float32
    kernel_init: Any = nn.initializers.lecun_normal()
    bias_init: Any = nn.initializers.zeros_init()
    impl: str = "auto"

    @nn.compact
    def __call__(self, x: Array) -> Array:
        name = type(self).__name__
        _check_input(x, name)
        kh, kw = _pair(self.kernel_size, "kernel_size", name, 1)
        stride = _pair(self.stride, "stride", name, 1)
        padding = _pair(self.padding, "padding", name, 0)
        output_padding = _pair(self.output_padding, "output_padding", name, 0)
        if output_padding[0] >= stride[0] or output_padding[1] >= stride[1]:
            raise ValueError(
                f"{name}: output_padding {output_padding} must be smaller than stride {stride}"
            )
        h, w, cin = x.shape[1], x.shape[2], x.shape[3]
        (out_h, _, _), (out_w, _, _) = _phase_geometry((h, w), (kh, kw), stride, padding, output_padding)
        if out_h < 1 or out_w < 1:
            raise ValueError(
                f"{name}: padding {padding} is too large: output would be {out_h}x{out_w} "
                f"for input {h}x{w}, kernel {kh}x{kw}, stride {stride}"
            )
        kernel = _kernel_param(self, (kh, kw, self.features, cin), in_axis=3)
        bias = self.param("bias", self.bias_init, (self.features,), self.param_dtype) if self.use_bias else None
        x, kernel, bias = promote_dtype(x, kernel, bias, dtype=self.dtype)
        y = conv_transpose2d(x, kernel, stride, padding, output_padding, self.impl)
        return y if bias is None else y + bias


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF 'SAME' padding of one axis: output ceil(size / stride), the odd pixel padded after."""
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def depthwise_conv2d(x: Array, kernel: Array, stride: Pair = (1, 1),
                     padding: str | Padding2D = "SAME") -> Array:
    """Depthwise 2-D convolution, NHWC: x [N,H,W,C], kernel [kh,kw,1,C] -> [N,H',W',C].

    Computed as kh*kw shifted, strided slices of the padded input, each scaled by its tap and summed:
    XLA:CPU's grouped convolution (`feature_group_count=C`) was 8-50x slower on EfficientNet's depthwise
    shapes (3x3 and 5x5, 7-112 px, 96-1152 channels, batch 16; e.g. 112x112x96 stride 2: 0.36 s vs
    0.045 s). padding: 'SAME' (TF: output ceil(H / stride), the odd pixel padded after) or explicit
    ((top, bottom), (left, right)).
    """
    kh, kw, one, c = kernel.shape
    if one != 1 or x.shape[-1] != c:
        raise ValueError(f"depthwise_conv2d: kernel {tuple(kernel.shape)} must be [kh, kw, 1, C] with C = the "
                         f"input's {x.shape[-1]} channels")
    sh, sw = stride
    if padding == "SAME":
        padding = (_same_padding(x.shape[1], kh, sh), _same_padding(x.shape[2], kw, sw))
    (pt, pb), (pl, pr) = padding
    xp = jnp.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    n, hp, wp, _ = xp.shape
    oh, ow = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"depthwise_conv2d: output would be empty (padded input {hp}x{wp}, kernel {kh}x{kw})")
    out = None
    for i in range(kh):
        for j in range(kw):
            tap = lax.slice(xp, (0, i, j, 0), (n, i + (oh - 1) * sh + 1, j + (ow - 1) * sw + 1, c), (1, sh, sw, 1))
            out = tap * kernel[i, j, 0] if out is None else out + tap * kernel[i, j, 0]
    return out


class DepthwiseConv(nn.Module):
    """Depthwise convolution (one kxk filter per channel), NHWC, flax's parameter layout: 'kernel'
    [kh,kw,1,C] as `flax.linen.Conv(feature_group_count=C)`, optional 'bias' [C]. padding 'SAME' (TF) or
    an int / (ph, pw) of symmetric zero padding (torch). Fast on CPU (`depthwise_conv2d`)."""

    kernel_size: int | tuple[int, int]
    stride: int | tuple[int, int] = 1
    padding: str | int | tuple[int, int] = "SAME"
    use_bias: bool = True
    param_dtype: Any = jnp.float32
    kernel_init: Any = nn.initializers.lecun_normal()
    bias_init: Any = nn.initializers.zeros_init()

    @nn.compact
    def __call__(self, x: Array) -> Array:
        name = type(self).__name__
        _check_input(x, name)
        kh, kw = _pair(self.kernel_size, "kernel_size", name, 1)
        stride = _pair(self.stride, "stride", name, 1)
        if isinstance(self.padding, str):
            if self.padding != "SAME":
                raise ValueError(f"{name}: padding must be 'SAME' or integers; got {self.padding!r}")
            padding = "SAME"
        else:
            ph, pw = _pair(self.padding, "padding", name, 0)
            padding = ((ph, ph), (pw, pw))
        c = x.shape[-1]
        kernel = self.param("kernel", self.kernel_init, (kh, kw, 1, c), self.param_dtype)
        x, kernel = promote_dtype(x, kernel)
        y = depthwise_conv2d(x, kernel, stride, padding)
        if self.use_bias:
            y = y + self.param("bias", self.bias_init, (c,), self.param_dtype)
        return y
