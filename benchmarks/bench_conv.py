"""fwd+bwd speed of genvision_jax.nn Conv/ConvTranspose vs flax.linen and PyTorch CPU, side by side.

    python -m benchmarks.bench_conv [--out FILE] [--batch 64] [--repeats 5] [--only SUBSTRING]

Layers: the 64x64 DCGAN's generator and discriminator convs (batch 64) and two reference shapes.
Per layer: median wall time of one jitted step computing d<y, g>/d(x, kernel, bias) after a warm-up
call (torch: forward + backward of the same quantity), ratios from the same run, and XLA's
cost-analysis FLOPs of our step. Prints the JSON and optionally writes it to --out.
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

from genvision_jax.nn import Conv, ConvTranspose
from genvision_jax.nn.conv import conv_impl, conv_transpose_impl

try:
    import torch
except ImportError:  # torch is optional: only the side-by-side column needs it
    torch = None

# (name, transposed, Cin, Cout, input size, kernel, stride, padding)
LAYERS = [
    ("G1_convT_100-512_1to4", True, 100, 512, 1, 4, 1, 0),
    ("G2_convT_512-256_4to8", True, 512, 256, 4, 4, 2, 1),
    ("G3_convT_256-128_8to16", True, 256, 128, 8, 4, 2, 1),
    ("G4_convT_128-64_16to32", True, 128, 64, 16, 4, 2, 1),
    ("G5_convT_64-3_32to64", True, 64, 3, 32, 4, 2, 1),
    ("D1_conv_3-64_64to32", False, 3, 64, 64, 4, 2, 1),
    ("D2_conv_64-128_32to16", False, 64, 128, 32, 4, 2, 1),
    ("D3_conv_128-256_16to8", False, 128, 256, 16, 4, 2, 1),
    ("D4_conv_256-512_8to4", False, 256, 512, 8, 4, 2, 1),
    ("D5_conv_512-1_4to1", False, 512, 1, 4, 4, 1, 0),
    ("ref_convT_128-64_32to64", True, 128, 64, 32, 4, 2, 1),
    ("ref_conv3x3_128-128_32", False, 128, 128, 32, 3, 1, 1),
]


def _median_seconds(run, repeats: int) -> float:
    run()  # warm-up (and compilation)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _jax_step(module):
    """jitted (params, x, g) -> d<module(x), g>/d(params, x)."""
    return jax.jit(jax.grad(lambda params, x, g: jnp.sum(module.apply(params, x) * g), argnums=(0, 1)))


def _xla_flops(step, *args) -> float | None:
    cost = step.lower(*args).compile().cost_analysis()
    if isinstance(cost, (list, tuple)):  # older jax returned one dict per computation
        cost = cost[0] if cost else None
    return float(cost["flops"]) if cost and "flops" in cost else None


def _torch_seconds(transposed, x, kernel, bias, g, stride, padding, repeats):
    """PyTorch CPU fwd+bwd of the same layer, weights mapped with the documented transpose."""
    op = torch.nn.functional.conv_transpose2d if transposed else torch.nn.functional.conv2d
    x_t = torch.tensor(np.asarray(x).transpose(0, 3, 1, 2).copy(), requires_grad=True)
    w_t = torch.tensor(np.asarray(kernel).transpose(3, 2, 0, 1).copy(), requires_grad=True)
    b_t = torch.tensor(np.asarray(bias), requires_grad=True)
    g_t = torch.tensor(np.asarray(g).transpose(0, 3, 1, 2).copy())

    def run():
        for t in (x_t, w_t, b_t):
            t.grad = None
        op(x_t, w_t, b_t, stride=stride, padding=padding).backward(g_t)

    return _median_seconds(run, repeats)


def bench_layer(name, transposed, cin, cout, size, k, s, p, batch, repeats):
    x = jax.random.normal(jax.random.key(0), (batch, size, size, cin), jnp.float32)
    ours = {impl: (ConvTranspose if transposed else Conv)(cout, k, s, p, impl=impl) for impl in ("gemm", "xla")}
    if transposed:  # torch padding p <=> lax.conv_transpose padding k-1-p per side
        reference = fnn.ConvTranspose(cout, (k, k), (s, s), padding=[(k - 1 - p, k - 1 - p)] * 2, transpose_kernel=True)
    else:
        reference = fnn.Conv(cout, (k, k), (s, s), padding=[(p, p)] * 2)
    params = ours["gemm"].init(jax.random.key(1), x)
    y = ours["gemm"].apply(params, x)
    g = jax.random.normal(jax.random.key(2), y.shape, jnp.float32)

    times, flops = {}, {}
    for impl, module in ours.items():
        step = _jax_step(module)
        flops[impl] = _xla_flops(step, params, x, g)
        times[f"ours_{impl}"] = _median_seconds(lambda: jax.block_until_ready(step(params, x, g)), repeats)
    step = _jax_step(reference)
    times["flax"] = _median_seconds(lambda: jax.block_until_ready(step(params, x, g)), repeats)
    if torch is not None:
        kernel, bias = params["params"]["kernel"], params["params"]["bias"]
        times["torch"] = _torch_seconds(transposed, x, kernel, bias, g, s, p, repeats)

    auto = _auto_impl(transposed, cin, cout, size, k, s, p)
    ratios = {"flax_over_ours_auto": times["flax"] / times[f"ours_{auto}"]}
    if "torch" in times:
        ratios["ours_auto_over_torch"] = times[f"ours_{auto}"] / times["torch"]
        ratios["flax_over_torch"] = times["flax"] / times["torch"]
    macs = batch * cin * cout * k * k * (size * size if transposed else y.shape[1] * y.shape[2])
    return {
        "name": name,
        "layer": "ConvTranspose" if transposed else "Conv",
        "in_shape": list(x.shape),
        "out_shape": list(y.shape),
        "kernel": k,
        "stride": s,
        "padding": p,
        "auto_impl": auto,
        "seconds_median": {key: round(v, 5) for key, v in times.items()},
        "ratios": {key: round(v, 3) for key, v in ratios.items()},
        "xla_flops_ours": flops,
        "ideal_flops_fwd_bwd": 3 * 2 * macs,  # fwd, d/dx, d/dkernel: one GEMM's worth each
    }


def _auto_impl(transposed, cin, cout, size, k, s, p):
    if transposed:
        return conv_transpose_impl((size, size), (k, k, cout, cin), (s, s), (p, p), (0, 0))
    return conv_impl((k, k, cin, cout), (s, s), ((p, p), (p, p)))


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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="also write the JSON here")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", default="", help="run layers whose name contains this")
    args = parser.parse_args(argv)
    if torch is not None:
        torch.set_num_threads(os.cpu_count())

    layers = [bench_layer(*layer, args.batch, args.repeats) for layer in LAYERS if args.only in layer[0]]
    result = {
        "benchmark": "conv_fwd_bwd",
        "protocol": (
            f"batch {args.batch}, float32, NHWC (torch NCHW), one jitted step = output + grads w.r.t. input, "
            f"kernel, bias for a fixed random cotangent; median of {args.repeats} timed calls after 1 warm-up; "
            "ratios from this run. CPU may be shared with other jobs: timings are noisy."
        ),
        "environment": environment(),
        "layers": layers,
    }
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
