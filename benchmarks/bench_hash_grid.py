"""Instant-NGP training step on CPU, by component, with and without the fusion barriers.

    python -m benchmarks.bench_hash_grid [--repeats 7] [--out FILE]

The field race's `cpu` Instant-NGP (16 levels x 2 features, table 2^15, 16 -> 512, 512 rays x 32
samples on occupied space, occupancy grid 32^3) on its `spheres` training rays. Components, each a
jitted function timed alone (median of `--repeats` after a warm-up): the hash-grid index and trilinear
weights, the table gather, the interpolation, the scatter-add that is the table's gradient, the field
(encoding + MLPs) forward and forward+backward on the step's sample points, the render pass forward
and forward+backward (sampling on occupied space, field, compositing, loss), Adam, the occupancy update
(amortised over its 16-step period), and the whole step. `barrier: off` replaces
`genvision_jax.nn.fusion_barrier` by the identity in the encoding, i.e. the code before the fix: XLA
then fuses the ray sampling and the index computation into the gather and re-evaluates them for every
gathered table value.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from experiments.sweep import load_config_module
from genvision_jax.data.views import select_views
from genvision_jax.models.fields import encoding
from genvision_jax.models.fields.common import grid_corners, to_unit_cube
from genvision_jax.rendering import sampling
from genvision_jax.tasks import nerf as nerf_train
from genvision_jax.tasks.fields import field_step_fn, init_field_state
from genvision_jax.train import stream_key
from genvision_jax.train.config import apply_overrides
from genvision_jax.train.rng import root_key

CONFIG = "experiments/field_race/configs/default.py:cpu"


def _median_ms(fn, *args, repeats: int) -> float:
    fn = jax.jit(fn)
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1e3, 2)


def _setup():
    _, module, variant = load_config_module(CONFIG)
    entry = next(e for e in module.get_sweep(variant) if e["name"] == "instant_ngp")
    config = apply_overrides(module.get_config(variant), entry["overrides"])
    views = select_views(nerf_train.load_views(config, "train"), config.dataset.num_train_views)
    setup = nerf_train.make_setup(config, views)
    rays = nerf_train.all_rays(views, setup.dynamic)
    idx = np.random.default_rng(0).integers(0, len(rays["rgb"]), config.batch_rays)
    batch = {k: jnp.asarray(v[idx]) for k, v in rays.items()}
    root = root_key(0)
    state = init_field_state(setup, stream_key(root, "init", 0))
    step = jax.jit(field_step_fn(setup))
    for _ in range(20):  # past the first occupancy updates, so the grid is the trained one's kind
        state, _ = step(state, batch, root)
    return config, setup, batch, root, state


def bench(repeats: int) -> dict:
    config, setup, batch, root, state = _setup()
    r = setup.renderer
    field = r.coarse
    params = state.params["coarse"]
    key = jax.random.key(0)
    occ = state.occupancy
    n, m = batch["origins"].shape[0], r.occupancy_candidates
    edges = jnp.broadcast_to(jnp.linspace(r.near, r.far, m + 1, dtype=jnp.float32), (n, m + 1))
    mids = 0.5 * (edges[:, 1:] + edges[:, :-1])
    from genvision_jax.rendering.occupancy import occupancy_query
    weights = occupancy_query(occ, sampling.points_along_rays(batch["origins"], batch["directions"], mids))
    t = sampling.sample_pdf(key, edges, weights.astype(jnp.float32), r.num_coarse)
    points = sampling.points_along_rays(batch["origins"], batch["directions"], t)
    viewdirs = jnp.broadcast_to(batch["directions"][:, None] / jnp.linalg.norm(batch["directions"], axis=-1)[:, None, None],
                                points.shape)
    layout = encoding.hash_grid_layout(field.hash_levels, field.hash_log2_size, field.hash_min_res, field.hash_max_res)
    table = params["encoding"]["table"]

    def index_weights(p):
        x = jnp.clip(to_unit_cube(p, field.bounds), 0.0, 1.0).reshape(-1, 3)
        res = jnp.asarray(layout.resolutions, x.dtype)[:, None]
        corners, w = grid_corners(x[:, None, :] * res, res + 1)
        return encoding.hash_grid_index(layout, corners), w

    index, w = jax.jit(index_weights)(points)
    feats = table[index]
    g = jnp.ones(index.shape + (table.shape[1],), table.dtype)

    def loss(prm):
        out = r.render_rays({"coarse": prm}, batch["origins"], batch["directions"], key, None, occupancy=occ)
        return jnp.mean((out["rgb"] - batch["rgb"]) ** 2)

    def field_sum(prm, p, d):
        rgb, density = field.apply({"params": prm}, p, d)
        return jnp.sum(rgb) + jnp.sum(density)

    grads = jax.grad(loss)(params)
    step = field_step_fn(setup)
    out = {
        "index_and_weights": _median_ms(index_weights, points, repeats=repeats),
        "gather": _median_ms(lambda tb, i: jnp.take(tb, i.reshape(-1), axis=0), table, index, repeats=repeats),
        "interpolation": _median_ms(lambda ww, f: jnp.einsum("nlc,nlcf->nlf", ww, f), w, feats, repeats=repeats),
        "scatter_add_table_grad": _median_ms(lambda i, gg: jnp.zeros_like(table).at[i].add(gg), index, g,
                                             repeats=repeats),
        "field_fwd": _median_ms(lambda prm, p, d: field.apply({"params": prm}, p, d), params, points, viewdirs,
                                repeats=repeats),
        "field_fwd_bwd": _median_ms(jax.grad(field_sum), params, points, viewdirs, repeats=repeats),
        "render_fwd": _median_ms(loss, params, repeats=repeats),
        "render_fwd_bwd": _median_ms(jax.grad(loss), params, repeats=repeats),
        "adam": _median_ms(lambda gr, o, prm: setup.tx.update(gr, o, prm), {"coarse": grads}, state.opt_state,
                           state.params, repeats=repeats),
        "occupancy_update_amortised": round(_median_ms(
            lambda o, prm: r.update_occupancy(o, prm, key, jnp.int32(0)), occ, state.params, repeats=repeats)
            / r.occupancy_update_every, 2),
        "train_step": _median_ms(lambda s: step(s, batch, root)[1]["loss"], state, repeats=repeats),
    }
    out["train_rays_per_s"] = round(config.batch_rays / (out["train_step"] / 1e3))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    barrier = encoding.fusion_barrier
    results = {"barrier_on": bench(args.repeats)}
    print("barrier on", results["barrier_on"], flush=True)
    encoding.fusion_barrier = lambda x: x
    try:
        results["barrier_off"] = bench(args.repeats)
    finally:
        encoding.fusion_barrier = barrier
    print("barrier off", results["barrier_off"], flush=True)
    results["off_over_on"] = {k: round(results["barrier_off"][k] / results["barrier_on"][k], 2)
                              for k in results["barrier_on"] if k != "train_rays_per_s"}
    result = {"benchmark": "hash_grid_step_components_ms", "config": CONFIG + " (instant_ngp)",
              "protocol": "each component jitted alone, median ms of `repeats` calls after a warm-up; train_step "
                          "includes the occupancy update's lax.cond (the update itself runs every 16 steps)",
              "repeats": args.repeats, "host": {"jax": jax.__version__, "devices": [str(d) for d in jax.devices()]},
              **results}
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
