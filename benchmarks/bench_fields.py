"""Radiance-field benchmark: training rays/s and rendering rays/s per field type, on this machine.

  python -m benchmarks.bench_fields [--configs CONFIG[,CONFIG...]] [--steps 20] [--repeats 3] [--out FILE]

Each field is built exactly as a study's `cpu` sweep builds it: by default every field of
`experiments/field_race` (NeRF, Instant-NGP, TensoRF, Plenoxels on the `spheres` scene, each with its
own sampling recipe) and D-NeRF from `experiments/dnerf` (the `dynamic` scene), so the numbers are the
per-step costs behind field_race's PSNR-vs-time curves.

Training: `--steps` jitted steps (rays sampled from the training views, as the trainer does) after one
warm-up step that compiles; the best and the median of `--repeats` timed blocks (the machine is
shared, so the best is the least disturbed). Rendering: one 64x64 test view through the deterministic
chunked renderer, best and median of `--repeats` after a warm-up render. Memory: the parameter count
and the bytes of parameters + Adam state.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import jax
import numpy as np

from experiments.sweep import load_config_module
from genvision_jax.data.views import select_views
from genvision_jax.tasks import nerf as nerf_train
from genvision_jax.tasks.fields import init_field_state, make_field_train_step, make_ray_renderer
from genvision_jax.train import make_mesh, stream_key, to_global_batch
from genvision_jax.train.config import apply_overrides
from genvision_jax.train.rng import root_key
from genvision_jax.train.sharding import create_replicated


def _stats(times: list[float], amount: float) -> dict:
    return {"rays_per_s": amount / min(times), "rays_per_s_median": amount / statistics.median(times),
            "best_s": min(times), "median_s": statistics.median(times)}


def bench_field(config, steps: int, repeats: int) -> dict:
    mesh = make_mesh()
    train_views = select_views(nerf_train.load_views(config, "train"), config.dataset.num_train_views)
    test_views = nerf_train.load_views(config, "test")
    setup = nerf_train.make_setup(config, train_views)
    rays = nerf_train.all_rays(train_views, setup.dynamic)
    root = root_key(config.seed)
    state = create_replicated(lambda r: init_field_state(setup, r), stream_key(root, "init", 0), mesh)
    step_fn = make_field_train_step(setup, mesh)
    rng = np.random.default_rng(0)

    def batch():
        idx = rng.integers(0, len(rays["rgb"]), config.batch_rays)
        return to_global_batch({k: v[idx] for k, v in rays.items()}, mesh)

    t0 = time.perf_counter()
    state, _ = step_fn(state, batch(), root)
    jax.block_until_ready(state)
    compile_s = time.perf_counter() - t0
    batches = [batch() for _ in range(steps)]
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for b in batches:
            state, _ = step_fn(state, b, root)
        jax.block_until_ready(state)
        times.append(time.perf_counter() - t0)
    train = _stats(times, steps * config.batch_rays)
    train["first_step_s_with_compile"] = compile_s

    renderer = make_ray_renderer(setup, config.eval.chunk)
    o, d = nerf_train.view_rays(test_views, 0)
    t = float(test_views["times"][0]) if setup.dynamic else None
    jax.block_until_ready(renderer(state.params, o, d, t, state.step, state.occupancy))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(renderer(state.params, o, d, t, state.step, state.occupancy))
        times.append(time.perf_counter() - t0)
    render = _stats(times, o.shape[0] * o.shape[1])
    num_params = int(sum(x.size for x in jax.tree.leaves(state.params)))
    state_bytes = int(sum(x.size * x.dtype.itemsize for x in jax.tree.leaves((state.params, state.opt_state))))
    return {"train": train, "render": render, "num_params": num_params, "params_and_adam_bytes": state_bytes,
            "batch_rays": config.batch_rays,
            "samples_per_ray": {"coarse": setup.renderer.num_coarse, "fine": setup.renderer.num_fine}}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="experiments/field_race/configs/default.py:cpu,"
                                              "experiments/dnerf/configs/default.py:cpu")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="nerf,instant_ngp,tensorf,plenoxels,dnerf",
                        help="comma-separated sweep entry names to time (empty: all)")
    parser.add_argument("--out", default="benchmarks/results/fields_rays_per_s.json")
    args = parser.parse_args(argv)
    only = [s for s in args.only.split(",") if s]
    fields = {}
    for config_path in args.configs.split(","):
        _, module, variant = load_config_module(config_path)
        base = module.get_config(variant)
        for entry in module.get_sweep(variant):
            if (only and entry["name"] not in only) or entry["name"] in fields:
                continue
            config = apply_overrides(base, entry["overrides"])
            fields[entry["name"]] = {"config": config_path, "scene": config.dataset.scene,
                                     "image_size": config.dataset.image_size,
                                     **bench_field(config, args.steps, args.repeats)}
            print(entry["name"], {k: round(fields[entry["name"]][k]["rays_per_s"]) for k in ("train", "render")},
                  flush=True)
    result = {
        "benchmark": "radiance-field training and rendering rays/s",
        "steps_per_block": args.steps, "repeats": args.repeats, "fields": fields,
        "protocol": "train: jitted steps incl. host-side ray sampling, best (and median) of `repeats` blocks "
                    "after a compiling warm-up step; render: one test view, deterministic sampling, chunked",
        "host": {"cpus": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version(),
                 "jax": jax.__version__, "devices": [str(d) for d in jax.devices()]},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
