"""A PyTorch CPU StyleGAN 2 (generator and residual discriminator), written here from the papers' formulas, as
the side-by-side reference of `benchmarks/bench_stylegan.py` and of the weight-loader parity tests.

Parameter names follow rosinality's stylegan2-pytorch layout (`style.{i}`, `input.input`, `conv1`, `to_rgb1`,
`convs.{i}`, `to_rgbs.{i}`, `noises.noise_{i}`), so a state dict of this generator is a file in that layout;
the operations are the official ones: equalized lr with lr multiplier, modulated/demodulated convs as one
grouped convolution per layer (the official fused path), the up-conv as a stride-2 transposed convolution
followed by the [1, 3, 3, 1] blur (padding 1, gain 4), skip ToRGBs with FIR x2 upsampling (padding 2, 1),
scalar noise strengths, fused bias + leaky ReLU 0.2 x √2. Channels per resolution min(channel_base / res,
channel_max) as in `genvision_jax.models.gan.stylegan`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)


def _blur_kernel(gain: float = 1.0) -> torch.Tensor:
    f = torch.tensor([1.0, 3.0, 3.0, 1.0])
    k = f[:, None] * f[None, :]
    return k / k.sum() * gain


def upfirdn2d(x, kernel, up=1, down=1, pad=(0, 0)):
    """NCHW; zero-insertion upsampling, padding (pad0, pad1) on both axes, true convolution with `kernel`
    [kh, kw], decimation."""
    n, c, h, w = x.shape
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, (0, up - 1, 0, 0, 0, up - 1))
        x = x.reshape(n, c, h * up, w * up)
    x = F.pad(x, (pad[0], pad[1], pad[0], pad[1]))
    k = torch.flip(kernel, (0, 1))[None, None].repeat(c, 1, 1, 1).to(x.dtype)
    x = F.conv2d(x, k, groups=c)
    return x[:, :, ::down, ::down]


class EqualLinear(nn.Module):
    def __init__(self, in_dim, out_dim, bias_init=0.0, lr_mul=1.0, activation=False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)))
        self.scale, self.lr_mul, self.activation = lr_mul / math.sqrt(in_dim), lr_mul, activation

    def forward(self, x):
        out = F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)
        return F.leaky_relu(out, 0.2) * SQRT2 if self.activation else out


class ModulatedConv2d(nn.Module):
    def __init__(self, in_ch, out_ch, k, style_dim, demodulate=True, upsample=False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, out_ch, in_ch, k, k))
        self.modulation = EqualLinear(style_dim, in_ch, bias_init=1.0)
        self.scale, self.k, self.demodulate, self.upsample = 1 / math.sqrt(in_ch * k * k), k, demodulate, upsample
        self.register_buffer("blur", _blur_kernel(4.0), persistent=False)

    def forward(self, x, style):
        b, cin, h, w = x.shape
        s = self.modulation(style).view(b, 1, cin, 1, 1)
        weight = self.scale * self.weight * s
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum([2, 3, 4], keepdim=True) + 1e-8)
        cout = weight.shape[1]
        weight = weight.view(b * cout, cin, self.k, self.k)
        x = x.reshape(1, b * cin, h, w)
        if self.upsample:
            wt = weight.view(b, cout, cin, self.k, self.k).transpose(1, 2).reshape(b * cin, cout, self.k, self.k)
            out = F.conv_transpose2d(x, wt, stride=2, groups=b)
            out = out.view(b, cout, *out.shape[2:])
            p = (4 - 2) - (self.k - 1)
            return upfirdn2d(out, self.blur, pad=((p + 1) // 2 + 1, p // 2 + 1))
        out = F.conv2d(x, weight, padding=self.k // 2, groups=b)
        return out.view(b, cout, h, w)


class NoiseInjection(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x, noise):
        return x + self.weight * noise


class FusedLeakyReLU(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(ch))

    def forward(self, x):
        return F.leaky_relu(x + self.bias.view(1, -1, 1, 1), 0.2) * SQRT2


class StyledConv(nn.Module):
    def __init__(self, in_ch, out_ch, k, style_dim, upsample=False):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, out_ch, k, style_dim, upsample=upsample)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_ch)

    def forward(self, x, style, noise):
        return self.activate(self.noise(self.conv(x, style), noise))


class ToRGB(nn.Module):
    def __init__(self, in_ch, style_dim):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))
        self.register_buffer("up", _blur_kernel(4.0), persistent=False)

    def forward(self, x, style, skip=None):
        out = self.conv(x, style) + self.bias
        if skip is not None:
            out = out + upfirdn2d(skip, self.up, up=2, pad=(2, 1))
        return out


class Generator(nn.Module):
    """G(z [B, z_dim], noise='const'|'random') -> images [B, 3, R, R]; `mapping`, `synthesis(ws [B, L, D])`."""

    def __init__(self, size, style_dim=512, n_mlp=8, channel_base=16384, channel_max=512, lr_mul=0.01):
        super().__init__()
        ch = {2 ** j: min(channel_base // 2 ** j, channel_max) for j in range(2, int(math.log2(size)) + 1)}
        self.size, self.style_dim, self.log = size, style_dim, int(math.log2(size))
        self.style = nn.Sequential(*([nn.Identity()] + [EqualLinear(style_dim, style_dim, lr_mul=lr_mul,
                                                                    activation=True) for _ in range(n_mlp)]))
        self.input = nn.Module()
        self.input.input = nn.Parameter(torch.randn(1, ch[4], 4, 4))
        self.conv1 = StyledConv(ch[4], ch[4], 3, style_dim)
        self.to_rgb1 = ToRGB(ch[4], style_dim)
        self.convs, self.to_rgbs, self.noises = nn.ModuleList(), nn.ModuleList(), nn.Module()
        self.noises.register_buffer("noise_0", torch.randn(1, 1, 4, 4))
        prev = ch[4]
        for j in range(3, self.log + 1):
            r = 2 ** j
            self.convs.append(StyledConv(prev, ch[r], 3, style_dim, upsample=True))
            self.convs.append(StyledConv(ch[r], ch[r], 3, style_dim))
            self.to_rgbs.append(ToRGB(ch[r], style_dim))
            for i in (2 * j - 5, 2 * j - 4):
                self.noises.register_buffer(f"noise_{i}", torch.randn(1, 1, r, r))
            prev = ch[r]
        self.num_ws = 2 * self.log - 2

    def mapping(self, z):
        z = z * torch.rsqrt(z.pow(2).mean(1, keepdim=True) + 1e-8)
        return self.style(z)

    def synthesis(self, ws, noise="const"):
        """ws [B, num_ws, D] -> images; noise 'const' (the stored maps) or 'random'."""
        b = ws.shape[0]

        def noise_at(i):
            stored = getattr(self.noises, f"noise_{i}")
            return stored if noise == "const" else torch.randn(b, 1, *stored.shape[2:])

        out = self.input.input.repeat(b, 1, 1, 1)
        out = self.conv1(out, ws[:, 0], noise_at(0))
        skip = self.to_rgb1(out, ws[:, 1])
        for k, rgb in enumerate(self.to_rgbs):
            i = 2 * k + 1
            out = self.convs[2 * k](out, ws[:, i], noise_at(i))
            out = self.convs[2 * k + 1](out, ws[:, i + 1], noise_at(i + 1))
            skip = rgb(out, ws[:, i + 2], skip)
        return skip

    def forward(self, z, noise="const"):
        w = self.mapping(z)
        return self.synthesis(w[:, None].repeat(1, self.num_ws, 1), noise)


class EqualConv2d(nn.Module):
    """Equalized-lr conv; down=True blurs ([1, 3, 3, 1], padded for the kernel) then convolves with stride 2."""

    def __init__(self, in_ch, out_ch, k, down=False, bias=True, activate=True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, k, k))
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.scale, self.k, self.down, self.activate = 1 / math.sqrt(in_ch * k * k), k, down, activate
        self.register_buffer("blur", _blur_kernel(1.0), persistent=False)

    def forward(self, x):
        if self.down:
            p = (4 - 2) + (self.k - 1)
            x = upfirdn2d(x, self.blur, pad=((p + 1) // 2, p // 2))
            out = F.conv2d(x, self.weight * self.scale, stride=2)
        else:
            out = F.conv2d(x, self.weight * self.scale, padding=self.k // 2)
        if self.bias is not None:
            out = out + self.bias.view(1, -1, 1, 1)
        return F.leaky_relu(out, 0.2) * SQRT2 if self.activate else out


class Discriminator(nn.Module):
    """Residual D (StyleGAN 2 Fig. 7c): fromRGB at R, residual blocks down to 4x4, minibatch stddev (group 4),
    3x3 conv, dense, dense -> logits [N]."""

    def __init__(self, size, channel_base=16384, channel_max=512, mbstd_group=4):
        super().__init__()
        ch = {2 ** j: min(channel_base // 2 ** j, channel_max) for j in range(2, int(math.log2(size)) + 1)}
        self.fromrgb = EqualConv2d(3, ch[size], 1)
        self.blocks = nn.ModuleList()
        for j in range(int(math.log2(size)), 2, -1):
            r = 2 ** j
            block = nn.Module()
            block.conv0 = EqualConv2d(ch[r], ch[r], 3)
            block.conv1 = EqualConv2d(ch[r], ch[r // 2], 3, down=True)
            block.skip = EqualConv2d(ch[r], ch[r // 2], 1, down=True, bias=False, activate=False)
            self.blocks.append(block)
        self.group = mbstd_group
        self.conv = EqualConv2d(ch[4] + 1, ch[4], 3)
        self.fc = EqualLinear(ch[4] * 16, ch[4], activation=True)
        self.out = EqualLinear(ch[4], 1)

    def forward(self, img):
        x = self.fromrgb(img)
        for b in self.blocks:
            x = (b.conv1(b.conv0(x)) + b.skip(x)) / SQRT2
        n, c, h, w = x.shape
        g = min(self.group, n)
        y = x.view(g, -1, 1, c, h, w)
        y = torch.sqrt((y - y.mean(0)).pow(2).mean(0) + 1e-8).mean([2, 3, 4]).reshape(-1, 1, 1, 1)
        y = y.repeat(g, 1, h, w)
        x = self.conv(torch.cat([x, y], 1))
        return self.out(self.fc(x.flatten(1)))[:, 0]
