"""StyleGAN 2 benchmarks, ours (JAX, XLA:CPU) vs PyTorch CPU side by side in one process.

  python -m benchmarks.bench_stylegan [--sizes 32,64] [--batch 32] [--periods 1] [--out FILE]

1. Training step: G and D of the same architecture (skip G, residual D, channels min(channel_base / res, 64),
   z = w = 128, 2 mapping layers, mbstd group 4) and the same procedure on both sides: G forward with style
   mixing, D update (non-saturating loss) with lazy R1 every 16 steps (γ · 16), G update through the updated D
   with lazy path-length regularization every 4 steps on half the batch (weight 2 · 4), Adam (0.0025, β
   (0, 0.99)). A period is 16 consecutive steps (1 R1 step, 4 PL steps), so the per-step time amortises the
   lazy regularizers as training does; ours is the trainer's jitted step (`genvision_jax.tasks.stylegan`),
   theirs `benchmarks/torch_stylegan2.py` with autograd's double backward for R1 and PL.
2. Modulated convolution per layer (the generator's 3x3 layers at 32² and 64²): forward and forward+backward
   of our three exact formulations ('scaled': one shared conv between per-channel scalings; 'batched_gemm':
   per-sample weights x im2col patches as one batched GEMM; 'grouped': one grouped conv with B groups, the
   official fused path) against torch's grouped conv (the official implementation's).
Medians of repeated calls after a warm-up; XLA's FLOP count for our step. The machine, its load and the
thread counts are recorded: the ratio is only meaningful for one machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.timing import compile_and_count, seconds

CHANNEL_MAX = 64
DIM = 128


def _setup(size: int, batch: int):
    from experiments.stylegan.configs.default import get_config
    from genvision_jax.tasks.stylegan_images import make_setup

    c = get_config("cpu")
    c.unlock()
    c.dataset.image_size, c.batch_size = size, batch
    c.model.channel_base, c.model.channel_max = 32 * size, CHANNEL_MAX
    c.stylegan.r1_gamma = 1.0
    return c, make_setup(c)


def bench_jax_step(size: int, batch: int, periods: int) -> dict:
    from genvision_jax.tasks.stylegan import init_stylegan_state, make_stylegan_train_step
    from genvision_jax.train import make_mesh, to_global_batch
    from genvision_jax.train.sharding import create_replicated

    mesh = make_mesh()
    config, setup = _setup(size, batch)
    state = create_replicated(lambda r: init_stylegan_state(setup, r), jax.random.key(0), mesh)
    step = make_stylegan_train_step(setup, mesh)
    x = np.random.default_rng(0).uniform(-1, 1, (batch, size, size, 3)).astype(np.float32)
    b = to_global_batch({"image": x}, mesh)
    root = jax.random.key(0)
    _, compile_s, flops = compile_and_count(step, state, b, root)
    for _ in range(16):  # warm-up period (every branch of the lazy regularizers runs)
        state, m = step(state, b, root)
    jax.block_until_ready(state)
    per = []
    for _ in range(periods):
        t = time.perf_counter()
        for _ in range(16):
            state, m = step(state, b, root)
        jax.block_until_ready(state)
        per.append((time.perf_counter() - t) / 16)
    return {"s_per_step": statistics.median(per), "periods": per, "compile_s": compile_s,
            "xla_flops_per_step_program": flops,
            "note": "XLA's FLOPs count both lax.cond branches (R1 and PL) of the one program",
            "conv_impl": config.model.conv_impl, "final_d_loss": float(m["d_loss"])}


def bench_torch_step(size: int, batch: int, periods: int) -> dict:
    import torch

    from benchmarks.torch_stylegan2 import Discriminator, Generator

    torch.manual_seed(0)
    G, D = Generator(size, DIM, 2, 32 * size, CHANNEL_MAX), Discriminator(size, 32 * size, CHANNEL_MAX)
    c_g, c_d = 4 / 5, 16 / 17  # lazy regularization's Adam correction (lr x c, beta^c)
    g_opt = torch.optim.Adam(G.parameters(), lr=0.0025 * c_g, betas=(0.0, 0.99 ** c_g), eps=1e-8)
    d_opt = torch.optim.Adam(D.parameters(), lr=0.0025 * c_d, betas=(0.0, 0.99 ** c_d), eps=1e-8)
    real = torch.tensor(np.random.default_rng(0).uniform(-1, 1, (batch, 3, size, size)).astype(np.float32))
    softplus = torch.nn.functional.softplus
    pl_mean = torch.zeros(())

    def mixed_ws(n):
        w1, w2 = G.mapping(torch.randn(n, DIM)), G.mapping(torch.randn(n, DIM))
        ws1, ws2 = w1[:, None].repeat(1, G.num_ws, 1), w2[:, None].repeat(1, G.num_ws, 1)
        cut = torch.randint(1, G.num_ws, (n,))
        cut = torch.where(torch.rand(n) < 0.9, cut, torch.full_like(cut, G.num_ws))
        layer = torch.arange(G.num_ws)[None, :, None]
        return torch.where(layer < cut[:, None, None], ws1, ws2)

    def step(i):
        nonlocal pl_mean
        fake = G.synthesis(mixed_ws(batch), "random")
        d_opt.zero_grad(set_to_none=True)
        x = real.detach().requires_grad_(i % 16 == 0)
        real_logits = D(x)
        loss = softplus(-real_logits).mean() + softplus(D(fake.detach())).mean()
        if i % 16 == 0:  # lazy R1
            (g,) = torch.autograd.grad(real_logits.sum(), x, create_graph=True)
            loss = loss + 1.0 / 2 * g.pow(2).sum([1, 2, 3]).mean() * 16
        loss.backward()
        d_opt.step()
        g_opt.zero_grad(set_to_none=True)
        softplus(-D(fake)).mean().backward()
        if i % 4 == 0:  # lazy path length on half the batch
            ws = mixed_ws(batch // 2)
            img = G.synthesis(ws, "random")
            y = torch.randn_like(img) / math.sqrt(size * size)
            (gw,) = torch.autograd.grad((img * y).sum(), ws, create_graph=True)
            lengths = gw.pow(2).sum(2).mean(1).sqrt()
            pl_mean = pl_mean + 0.01 * (lengths.mean().detach() - pl_mean)
            ((lengths - pl_mean).pow(2).mean() * 2 * 4).backward()
        g_opt.step()
        return float(loss)

    for i in range(16):
        step(i)
    per = []
    for _ in range(periods):
        t = time.perf_counter()
        for i in range(16):
            last = step(i)
        per.append((time.perf_counter() - t) / 16)
    return {"s_per_step": statistics.median(per), "periods": per, "threads": torch.get_num_threads(),
            "torch": torch.__version__, "final_d_loss": last}


def _median_s(fn, repeats: int) -> float:
    return seconds(fn, repeats)["median"]


def bench_modconv_layers(batch: int, repeats: int) -> list[dict]:
    import torch

    from benchmarks.torch_stylegan2 import ModulatedConv2d
    from genvision_jax.nn.stylegan import MODCONV_IMPLS, ModulatedConv

    rows = []
    shapes = [(64, 64, 16, False), (64, 32, 32, True), (32, 32, 32, False), (32, 16, 64, True), (16, 16, 64, False)]
    for cin, cout, res, up in shapes:
        hin = res // 2 if up else res
        x = jax.random.normal(jax.random.key(0), (batch, hin, hin, cin))
        w = jax.random.normal(jax.random.key(1), (batch, DIM))
        row = {"layer": f"3x3 {cin}->{cout} at {res}x{res}" + (" (x2 up)" if up else ""), "batch": batch}
        for impl in MODCONV_IMPLS:
            m = ModulatedConv(cout, 3, up=2 if up else 1, impl=impl, use_noise=False)
            v = m.init(jax.random.key(2), x, w)
            fwd = jax.jit(lambda v, x, w, m=m: m.apply(v, x, w))
            both = jax.jit(jax.grad(lambda v, x, w, m=m: jnp.sum(jnp.square(m.apply(v, x, w))), argnums=(0, 1)))
            if impl == "grouped" and res >= 32:  # XLA:CPU's grouped conv backward takes minutes at these sizes
                row[f"ours_{impl}_fwd_ms"] = 1e3 * _median_s(lambda: jax.block_until_ready(fwd(v, x, w)), repeats)
                row[f"ours_{impl}_fwd_bwd_ms"] = None
                continue
            row[f"ours_{impl}_fwd_ms"] = 1e3 * _median_s(lambda: jax.block_until_ready(fwd(v, x, w)), repeats)
            row[f"ours_{impl}_fwd_bwd_ms"] = 1e3 * _median_s(lambda: jax.block_until_ready(both(v, x, w)), repeats)
        tm = ModulatedConv2d(cin, cout, 3, DIM, upsample=up)
        xt = torch.randn(batch, cin, hin, hin, requires_grad=True)
        wt = torch.randn(batch, DIM)
        with torch.no_grad():
            row["torch_grouped_fwd_ms"] = 1e3 * _median_s(lambda: tm(xt, wt), repeats)

        def fb():
            tm.zero_grad()
            xt.grad = None
            tm(xt, wt).pow(2).sum().backward()

        row["torch_grouped_fwd_bwd_ms"] = 1e3 * _median_s(fb, repeats)
        row["ratio_best_ours_over_torch_fwd_bwd"] = min(
            v for k, v in row.items() if k.startswith("ours_") and k.endswith("fwd_bwd_ms") and v) / \
            row["torch_grouped_fwd_bwd_ms"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="32,64")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--periods", type=int, default=1, help="16-step periods timed per side and size")
    p.add_argument("--layer_repeats", type=int, default=5)
    p.add_argument("--out", default="benchmarks/results/stylegan2_step.json")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(len(os.sched_getaffinity(0)))  # as many threads as the cores this process may use

    out = {"benchmark": "stylegan2_train_step", "protocol": __doc__.split("\n\n", 1)[1].strip(),
           "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                       "cores_usable": len(os.sched_getaffinity(0)),
                       "loadavg_at_start": os.getloadavg(), "jax": jax.__version__, "devices": jax.device_count(),
                       "torch_threads": torch.get_num_threads()},
           "steps": []}
    for size in (int(s) for s in args.sizes.split(",")):
        ours = bench_jax_step(size, args.batch, args.periods)
        theirs = bench_torch_step(size, args.batch, args.periods)
        row = {"image_size": size, "batch": args.batch, "ours": ours, "torch": theirs,
               "ratio_ours_over_torch": ours["s_per_step"] / theirs["s_per_step"]}
        out["steps"].append(row)
        print(json.dumps({k: row[k] for k in ("image_size", "ratio_ours_over_torch")}), flush=True)
    out["modconv_layers"] = bench_modconv_layers(args.batch, args.layer_repeats)
    out["machine"]["loadavg_at_end"] = os.getloadavg()
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
