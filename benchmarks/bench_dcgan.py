"""DCGAN train-step benchmark: our jitted JAX step vs the same architecture's step in PyTorch CPU.

  python -m benchmarks.bench_dcgan [--image_size 64] [--batch 64] [--steps 20] [--out FILE]

Both sides run the identical procedure (Radford et al. 2016 architecture, non-saturating loss,
Adam 2e-4/0.5): G forward once, D update on (x, G(z).detach()), G update through the updated D.
Reports median seconds per step after warm-up, compile time, XLA's FLOP count for our step and the
ratio ours/PyTorch measured side by side in one process, for `--runs` alternating measurements (the top
level `jax`/`torch` are the first run's; `runs` holds all).
"""

import argparse
import json
import os
import platform
import statistics
import time

import jax
import numpy as np

from benchmarks.timing import compile_and_count
from genvision_jax.losses.gan import non_saturating
from genvision_jax.models.gan import DCGANDiscriminator, DCGANGenerator
from genvision_jax.train import make_mesh, make_optimizer, to_global_batch
from genvision_jax.tasks.gan import GANSetup, init_gan_state, make_gan_train_step
from genvision_jax.train.sharding import create_replicated


def bench_jax(image_size, channels, batch, steps, warmup):
    mesh = make_mesh()
    adam = {"name": "adam", "learning_rate": 2e-4, "b1": 0.5, "b2": 0.999}
    setup = GANSetup(DCGANGenerator(image_size, channels), DCGANDiscriminator(image_size, channels),
                     make_optimizer(adam), make_optimizer(adam), non_saturating, 100,
                     (image_size, image_size, channels))
    state = create_replicated(lambda r: init_gan_state(setup, r), jax.random.key(0), mesh)
    step = make_gan_train_step(setup, mesh)
    x = np.random.default_rng(0).uniform(-1, 1, (batch, image_size, image_size, channels)).astype(np.float32)
    batch_arr = to_global_batch({"image": x}, mesh)
    root = jax.random.key(0)
    _, compile_s, flops = compile_and_count(step, state, batch_arr, root)
    times = []
    for i in range(warmup + steps):
        t = time.perf_counter()
        state, m = step(state, batch_arr, root)
        jax.block_until_ready(m)
        if i >= warmup:
            times.append(time.perf_counter() - t)
    return {"median_s": statistics.median(times), "min_s": min(times), "compile_s": compile_s,
            "xla_flops_per_step": flops, "gflops_per_s": flops / statistics.median(times) / 1e9,
            "final_d_loss": float(m["d_loss"])}


def bench_torch(image_size, channels, batch, steps, warmup):
    try:
        import torch
        from torch import nn
    except ImportError:
        return None
    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(0)
    n = int(np.log2(image_size)) - 2
    g_layers, feats = [], 64 * 2 ** (n - 1)
    g_layers += [nn.ConvTranspose2d(100, feats, 4, 1, 0, bias=False), nn.BatchNorm2d(feats), nn.ReLU(True)]
    for _ in range(1, n):
        g_layers += [nn.ConvTranspose2d(feats, feats // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(feats // 2),
                     nn.ReLU(True)]
        feats //= 2
    g_layers += [nn.ConvTranspose2d(feats, channels, 4, 2, 1, bias=False), nn.Tanh()]
    d_layers, feats = [nn.Conv2d(channels, 64, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)], 64
    for _ in range(1, n):
        d_layers += [nn.Conv2d(feats, feats * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(feats * 2),
                     nn.LeakyReLU(0.2, True)]
        feats *= 2
    d_layers += [nn.Conv2d(feats, 1, 4, 1, 0, bias=False)]
    G, D = nn.Sequential(*g_layers), nn.Sequential(*d_layers)
    opt_g = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    x = torch.rand(batch, channels, image_size, image_size) * 2 - 1
    ones, zeros = torch.ones(batch), torch.zeros(batch)
    times = []
    for i in range(warmup + steps):
        t = time.perf_counter()
        z = torch.randn(batch, 100, 1, 1)
        fake = G(z)
        opt_d.zero_grad()
        d_loss = bce(D(x).view(-1), ones) + bce(D(fake.detach()).view(-1), zeros)
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad()
        g_loss = bce(D(fake).view(-1), ones)
        g_loss.backward()
        opt_g.step()
        if i >= warmup:
            times.append(time.perf_counter() - t)
    return {"median_s": statistics.median(times), "min_s": min(times), "torch": torch.__version__,
            "threads": torch.get_num_threads()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image_size", type=int, default=64)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--runs", type=int, default=3, help="alternating ours/torch measurements")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    runs = []
    for _ in range(a.runs):
        ours = bench_jax(a.image_size, a.channels, a.batch, a.steps, a.warmup)
        ref = bench_torch(a.image_size, a.channels, a.batch, a.steps, a.warmup)
        runs.append({"jax": ours, "torch": ref, "ratio_jax_over_torch": ours["median_s"] / ref["median_s"] if ref else None})
    ours, ref = runs[0]["jax"], runs[0]["torch"]
    doc = {
        "benchmark": "dcgan_train_step",
        "shape": {"image_size": a.image_size, "channels": a.channels, "batch": a.batch, "latent": 100,
                  "base_features": 64},
        "steps_timed": a.steps, "warmup": a.warmup,
        "jax": {**ours, "version": jax.__version__, "devices": [d.device_kind for d in jax.devices()]},
        "torch": ref,
        "ratio_jax_over_torch": ours["median_s"] / ref["median_s"] if ref else None,
        "runs": runs,
        "ratios_all_runs": [r["ratio_jax_over_torch"] for r in runs],
        "host": {"cpus": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version()},
    }
    text = json.dumps(doc, indent=2)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
