"""fwd+bwd speed of genvision_jax.nn Conv/ConvTranspose/DepthwiseConv vs flax.linen and PyTorch CPU.

    python -m benchmarks.bench_conv [--out FILE] [--repeats 5] [--only SUBSTRING] [--components]

Layers: the 64x64 DCGAN's generator and discriminator convs (batch 64), two reference shapes, and the
shapes the conv families use (batch 16): StyleGAN2's 3x3 convs at 4^2..64^2 (unmodulated: the
modulated conv arrives with StyleGAN), U-Net 3x3 and 4x4-stride-2, ResNet-9 blocks, an RRDB dense conv,
depthwise 3x3, 1x1, the 7x7 reflect-padded stem and thin 3-channel output layers.
Per layer: the median, min and max wall time of `--repeats` calls of one jitted step computing
d<y, g>/d(x, kernel, bias) after a warm-up call (torch: forward + backward of the same quantity), for
our impl="auto" and the single formulations "gemm" and "xla", flax and torch; the ideal FLOPs
(3 GEMMs' worth: forward, dx, dw) and the achieved GFLOP/s; ratios from the same run; and the
machine's float32 matmul peak (2048^3 GEMM, jax and torch) measured in the same run.
`--components` adds per-formulation timings of the forward, dx and dw alone. Prints the JSON and
optionally writes it to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import flax
import flax.linen as fnn
import jax
import jax.numpy as jnp
import jaxlib
import numpy as np

from benchmarks.timing import seconds as _seconds
from genvision_jax.nn import Conv, ConvTranspose, DepthwiseConv
from genvision_jax.nn.conv import IMPLS, conv2d, conv_impl, conv_transpose2d, conv_transpose_impl

try:
    import torch
except ImportError:  # torch is optional: only the side-by-side column needs it
    torch = None

# (name, kind, Cin, Cout, input size, kernel, stride, padding, batch); kind: conv, convT, depthwise,
# reflect (reflection padding then an unpadded conv)
LAYERS = [
    ("G1_convT_100-512_1to4", "convT", 100, 512, 1, 4, 1, 0, 64),
    ("G2_convT_512-256_4to8", "convT", 512, 256, 4, 4, 2, 1, 64),
    ("G3_convT_256-128_8to16", "convT", 256, 128, 8, 4, 2, 1, 64),
    ("G4_convT_128-64_16to32", "convT", 128, 64, 16, 4, 2, 1, 64),
    ("G5_convT_64-3_32to64", "convT", 64, 3, 32, 4, 2, 1, 64),
    ("D1_conv_3-64_64to32", "conv", 3, 64, 64, 4, 2, 1, 64),
    ("D2_conv_64-128_32to16", "conv", 64, 128, 32, 4, 2, 1, 64),
    ("D3_conv_128-256_16to8", "conv", 128, 256, 16, 4, 2, 1, 64),
    ("D4_conv_256-512_8to4", "conv", 256, 512, 8, 4, 2, 1, 64),
    ("D5_conv_512-1_4to1", "conv", 512, 1, 4, 4, 1, 0, 64),
    ("ref_convT_128-64_32to64", "convT", 128, 64, 32, 4, 2, 1, 64),
    ("ref_conv3x3_128-128_32", "conv", 128, 128, 32, 3, 1, 1, 64),
    # StyleGAN2 synthesis 3x3 convs (config-f widths, capped at 512 / 256 at 32^2 / 128 at 64^2), batch 16
    ("sg2_3x3_512_4", "conv", 512, 512, 4, 3, 1, 1, 16),
    ("sg2_3x3_512_8", "conv", 512, 512, 8, 3, 1, 1, 16),
    ("sg2_3x3_512_16", "conv", 512, 512, 16, 3, 1, 1, 16),
    ("sg2_3x3_256_32", "conv", 256, 256, 32, 3, 1, 1, 16),
    ("sg2_3x3_128_64", "conv", 128, 128, 64, 3, 1, 1, 16),
    ("sg2_torgb_1x1_128-3_64", "conv", 128, 3, 64, 1, 1, 0, 16),
    # pix2pix U-Net (4x4 stride-2 down / up) and a 3x3 U-Net (diffusion) block, batch 16
    ("unet_down_4x4s2_64-128_64", "conv", 64, 128, 64, 4, 2, 1, 16),
    ("unet_up_convT_128-64_32", "convT", 128, 64, 32, 4, 2, 1, 16),
    ("unet_3x3_64-64_64", "conv", 64, 64, 64, 3, 1, 1, 16),
    # ResNet-9 generator (CycleGAN): 7x7 reflect stem, 3x3 s2 downs, 3x3 blocks at 256 x 16^2 (64^2 input)
    ("resnet_stem_7x7_reflect_3-64_64", "reflect", 3, 64, 64, 7, 1, 3, 16),
    ("resnet_down_3x3s2_64-128_64", "conv", 64, 128, 64, 3, 2, 1, 16),
    ("resnet_block_3x3_256_16", "conv", 256, 256, 16, 3, 1, 1, 16),
    ("resnet_out_7x7_reflect_64-3_64", "reflect", 64, 3, 64, 7, 1, 3, 16),
    # ESRGAN RRDB dense-block conv (growth 32, 4th conv sees 64 + 3*32 channels) at 32^2
    ("rrdb_3x3_64-32_32", "conv", 64, 32, 32, 3, 1, 1, 16),
    ("rrdb_3x3_160-32_32", "conv", 160, 32, 32, 3, 1, 1, 16),
    # depthwise 3x3 (EfficientNet / mobile SR), 1x1 projection, thin input layer
    ("depthwise_3x3_96_56", "depthwise", 96, 96, 56, 3, 1, 1, 16),
    ("pointwise_1x1_256-64_16", "conv", 256, 64, 16, 1, 1, 0, 16),
    ("thin_in_3x3_3-64_64", "conv", 3, 64, 64, 3, 1, 1, 16),
]


def matmul_peak(repeats: int, n: int = 2048) -> dict:
    """float32 GFLOP/s of an n^3 GEMM (best of `repeats`), jax and torch, this run."""
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
    mm = jax.jit(jnp.dot)
    out = {"n": n, "jax_gflops": 2 * n**3 / _seconds(lambda: mm(a, b).block_until_ready(), repeats)["min"] / 1e9}
    if torch is not None:
        at, bt = torch.tensor(np.asarray(a)), torch.tensor(np.asarray(b))
        out["torch_gflops"] = 2 * n**3 / _seconds(lambda: at @ bt, repeats)["min"] / 1e9
    return out


class _Reflect(fnn.Module):
    """Reflection padding then an unpadded conv (ResNet generator stem / output layer)."""

    conv: fnn.Module
    pad: int

    @fnn.compact
    def __call__(self, x):
        p = self.pad
        return self.conv(jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect"))


def _modules(kind, cin, cout, k, s, p):
    """{label: module} for ours (auto, gemm, xla) and flax, sharing one parameter tree."""
    if kind == "depthwise":
        return {"ours_auto": DepthwiseConv(k, s, p),
                "flax": fnn.Conv(cin, (k, k), (s, s), padding=[(p, p)] * 2, feature_group_count=cin)}
    if kind == "convT":
        ours = {f"ours_{impl}": ConvTranspose(cout, k, s, p, impl=impl) for impl in IMPLS}
        # torch padding p <=> lax.conv_transpose padding k-1-p per side
        ours["flax"] = fnn.ConvTranspose(cout, (k, k), (s, s), padding=[(k - 1 - p, k - 1 - p)] * 2,
                                         transpose_kernel=True)
        return ours
    pad = 0 if kind == "reflect" else p
    ours = {f"ours_{impl}": Conv(cout, k, s, pad, impl=impl) for impl in IMPLS}
    ours["flax"] = fnn.Conv(cout, (k, k), (s, s), padding=[(pad, pad)] * 2)
    if kind == "reflect":
        ours = {name: _Reflect(m, p) for name, m in ours.items()}
    return ours


def _unwrap(params):
    """The conv's own {'kernel', 'bias'} (inside _Reflect's 'conv')."""
    inner = params["params"]
    return inner.get("conv", inner)


def _torch_seconds(kind, x, kernel, bias, g, stride, padding, repeats):
    """PyTorch CPU fwd+bwd of the same layer, weights mapped with the documented transposes."""
    F = torch.nn.functional
    x_t = torch.tensor(np.asarray(x).transpose(0, 3, 1, 2).copy(), requires_grad=True)
    w_t = torch.tensor(np.asarray(kernel).transpose(3, 2, 0, 1).copy(), requires_grad=True)
    b_t = torch.tensor(np.asarray(bias), requires_grad=True)
    g_t = torch.tensor(np.asarray(g).transpose(0, 3, 1, 2).copy())
    if kind == "convT":
        op = lambda: F.conv_transpose2d(x_t, w_t, b_t, stride=stride, padding=padding)
    elif kind == "depthwise":
        op = lambda: F.conv2d(x_t, w_t, b_t, stride=stride, padding=padding, groups=x_t.shape[1])
    elif kind == "reflect":
        op = lambda: F.conv2d(F.pad(x_t, [padding] * 4, mode="reflect"), w_t, b_t, stride=stride)
    else:
        op = lambda: F.conv2d(x_t, w_t, b_t, stride=stride, padding=padding)

    def run():
        for t in (x_t, w_t, b_t):
            t.grad = None
        op().backward(g_t)

    return _seconds(run, repeats)


def _components(kind, x, kernel, s, p, repeats):
    """{impl: {'fwd', 'dx', 'dw'} median seconds} of the single formulations, each part alone."""
    if kind in ("depthwise",):
        return None
    out = {}
    for impl in ("gemm", "xla"):
        if kind == "convT":
            f = lambda v, w, impl=impl: conv_transpose2d(v, w, (s, s), (p, p), (0, 0), impl)
        else:
            pad = 0 if kind == "reflect" else p
            f = lambda v, w, impl=impl, pad=pad: conv2d(v, w, (s, s), ((pad, pad), (pad, pad)), impl)
        g = jnp.ones(jax.eval_shape(f, x, kernel).shape, x.dtype)
        parts = {"fwd": jax.jit(f),
                 "dx": jax.jit(lambda v, w: jax.vjp(lambda a: f(a, w), v)[1](g)[0]),
                 "dw": jax.jit(lambda v, w: jax.vjp(lambda b: f(v, b), w)[1](g)[0])}
        out[impl] = {name: round(_seconds(lambda fn=fn: jax.block_until_ready(fn(x, kernel)), repeats)["median"], 5)
                     for name, fn in parts.items()}
    return out


def bench_layer(name, kind, cin, cout, size, k, s, p, batch, repeats, components=False, flax_limit_s=5.0):
    x = jax.random.normal(jax.random.key(0), (batch, size, size, cin), jnp.float32)
    modules = _modules(kind, cin, cout, k, s, p)
    params = modules["ours_auto"].init(jax.random.key(1), x)
    y = modules["ours_auto"].apply(params, x)
    g = jax.random.normal(jax.random.key(2), y.shape, jnp.float32)

    times, flops = {}, None
    for label, module in modules.items():
        step = jax.jit(jax.grad(lambda prm, v, c, m=module: jnp.sum(m.apply(prm, v) * c), argnums=(0, 1)))
        if label == "ours_auto":
            flops = _xla_flops(step, params, x, g)
        start = time.perf_counter()
        jax.block_until_ready(step(params, x, g))
        first = time.perf_counter() - start
        if label == "flax" and first > flax_limit_s:  # e.g. flax ConvTranspose: tens of seconds per call
            times["flax"] = {"median": None, "first_call_s": round(first, 2), "note": f"one call > {flax_limit_s} s"}
            continue
        times[label] = _seconds(lambda st=step: jax.block_until_ready(st(params, x, g)), repeats)
    kernel, bias = _unwrap(params)["kernel"], _unwrap(params)["bias"]
    if torch is not None:
        times["torch"] = _torch_seconds(kind, x, kernel, bias, g, s, p, repeats)

    depthwise = kind == "depthwise"
    out_pixels = y.shape[1] * y.shape[2]
    macs = batch * (cin if depthwise else cin * cout) * k * k * (size * size if kind == "convT" else out_pixels)
    ideal = 3 * 2 * macs  # forward, dx, dw: one GEMM's worth each
    med = {label: t["median"] for label, t in times.items()}
    ratios = {}
    if med.get("flax"):
        ratios["flax_over_ours_auto"] = med["flax"] / med["ours_auto"]
    if "torch" in med:
        ratios["ours_auto_over_torch"] = med["ours_auto"] / med["torch"]
        if med.get("flax"):
            ratios["flax_over_torch"] = med["flax"] / med["torch"]
    record = {
        "name": name, "kind": kind, "in_shape": list(x.shape), "out_shape": list(y.shape),
        "kernel": k, "stride": s, "padding": p,
        "auto_plan": None if depthwise else list(_auto_plan(kind, cin, cout, size, k, s, p)),
        "seconds": {label: {key: (round(v, 5) if isinstance(v, float) else v) for key, v in t.items()}
                    for label, t in times.items()},
        "ratios": {key: round(v, 3) for key, v in ratios.items()},
        "ideal_flops_fwd_bwd": ideal,
        "xla_flops_ours_auto": flops,
        "gflops_per_s": {label: round(ideal / v / 1e9, 1) for label, v in med.items() if v},
    }
    if components:
        pad = 0 if kind == "reflect" else p
        xin = x if kind != "reflect" else jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect")
        record["components_s"] = _components(kind, xin, kernel, s, pad if kind == "reflect" else p, repeats)
    return record


def _xla_flops(step, *args) -> float | None:
    cost = step.lower(*args).compile().cost_analysis()
    if isinstance(cost, (list, tuple)):  # older jax returned one dict per computation
        cost = cost[0] if cost else None
    return float(cost["flops"]) if cost and "flops" in cost else None


def _auto_plan(kind, cin, cout, size, k, s, p):
    if kind == "convT":
        return conv_transpose_impl((size, size), (k, k, cout, cin), (s, s), (p, p), (0, 0))
    pad = 0 if kind == "reflect" else p
    size = size + 2 * p if kind == "reflect" else size
    out = (size + 2 * pad - k) // s + 1
    return conv_impl((k, k, cin, cout), (s, s), ((pad, pad), (pad, pad)), out_hw=(out, out))


def environment():
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor()) if os.path.exists("/proc/cpuinfo") else platform.processor()
    return {
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "flax": flax.__version__,
        "torch": torch.__version__ if torch is not None else None,
        "torch_threads": torch.get_num_threads() if torch is not None else None,
        "backend": jax.default_backend(),
        "devices": [f"{d.platform}:{d.device_kind}" for d in jax.devices()],
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "malloc_env": {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")},
    }


def summary(layers: list[dict], peak: dict) -> dict:
    """The acceptance view: ratios ours/torch per layer, their median and max, and the reference conv's
    share of the matmul peak measured in the same run."""
    ratios = {l["name"]: l["ratios"]["ours_auto_over_torch"] for l in layers if "ours_auto_over_torch" in l["ratios"]}
    out = {"ours_auto_over_torch": ratios}
    if ratios:
        out["median_ratio"] = round(statistics.median(ratios.values()), 3)
        out["max_ratio"] = max(ratios.values())
        out["layers_over_1.3"] = sorted(n for n, r in ratios.items() if r > 1.3)
    ref = next((l for l in layers if l["name"] == "ref_conv3x3_128-128_32"), None)
    if ref is not None:
        out["ref_conv3x3_fraction_of_jax_matmul_peak"] = round(ref["gflops_per_s"]["ours_auto"] / peak["jax_gflops"], 3)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="also write the JSON here")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", default="", help="run layers whose name contains this")
    parser.add_argument("--components", action="store_true", help="also time forward, dx and dw alone")
    args = parser.parse_args(argv)
    if torch is not None:
        torch.set_num_threads(os.cpu_count())

    peak = matmul_peak(args.repeats)
    layers = []
    for layer in LAYERS:
        if args.only in layer[0]:
            layers.append(bench_layer(*layer, args.repeats, components=args.components))
            print(layers[-1]["name"], layers[-1]["ratios"], flush=True)
    result = {
        "benchmark": "conv_fwd_bwd",
        "protocol": (
            "float32, NHWC (torch NCHW), one jitted step = output + grads w.r.t. input, kernel, bias for a fixed "
            f"random cotangent; median (and min, max) of {args.repeats} timed calls after 1 warm-up; batch per "
            "layer in in_shape; ratios from this run; GFLOP/s = ideal FLOPs (3 x 2 x MACs) / median. "
            "The CPU may be shared with other jobs: timings are noisy."
        ),
        "environment": environment(),
        "matmul_peak": peak,
        "summary": summary(layers, peak),
        "layers": layers,
    }
    text = json.dumps(result, indent=1)
    print(json.dumps(result["summary"], indent=1))
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
