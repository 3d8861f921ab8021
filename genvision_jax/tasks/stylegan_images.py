"""StyleGAN trainer (StyleGAN 1/2 generators, StyleGAN 2 discriminators, lazy R1 and path length, style
mixing, G EMA, ADA), top to bottom: config → data → init → restore → loop → eval.

Config (experiments/stylegan/configs/default.py documents every key): `dataset` (name, split,
image_size, random_flip), `model` (generator and discriminator options of
`genvision_jax.models.gan.stylegan`), `stylegan` (the recipe of `genvision_jax.tasks.stylegan`),
`g_optimizer`, `d_optimizer` (Adam; adjusted for the lazy-regularization intervals), `eval`
(the domain extractor and the standard Inception, at the start, every `eval.fid_every` steps and at
the end, raw and EMA generator, at ψ = `eval.psi`).
"""

from __future__ import annotations

import json
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from genvision_jax import data as gdata
from genvision_jax.errors import ConfigError
from genvision_jax.metrics.generative import scores_for_log
from genvision_jax.models.gan.stylegan import NOISE_LAYERS, StyleGANDiscriminator, StyleGANGenerator
from genvision_jax.tasks import stylegan_eval as SE
from genvision_jax.tasks.gan_images import (final_scores, log_initial_scores, make_evaluator, make_standard_evaluator,
                                            source_kwargs, write_sample_grid)
from genvision_jax.tasks.stylegan import (StyleGANSetup, init_stylegan_state, lazy_adam_config, make_generate,
                                          make_stylegan_train_step, recipe_from_config)
from genvision_jax.train import make_optimizer
from genvision_jax.train.run import Run
from genvision_jax.train.sharding import gather_to_host


def make_setup(config: ml_collections.ConfigDict) -> StyleGANSetup:
    d, m = config.dataset, config.model
    recipe = recipe_from_config(config.stylegan.to_dict())
    try:
        clamp = float(m.conv_clamp) if m.conv_clamp > 0 else None
        generator = StyleGANGenerator(
            d.image_size, d.channels, m.z_dim, m.w_dim, m.mapping_layers, m.mapping_lr_mul, m.channel_base,
            m.channel_max, m.g_architecture, m.g_style, m.w_avg_beta, modconv_impl=m.modconv_impl,
            noise_layers=m.noise_layers, num_bf16_res=m.num_bf16_res, conv_clamp=clamp, conv_impl=m.conv_impl)
        discriminator = StyleGANDiscriminator(d.image_size, d.channels, m.channel_base, m.channel_max,
                                              m.d_architecture, m.mbstd_group, num_bf16_res=m.num_bf16_res,
                                              conv_clamp=clamp, conv_impl=m.conv_impl)
        # Lazy regularization: Adam's lr and betas for each network scaled by c = k / (k + 1).
        g_every = recipe["pl_every"] if recipe["pl_weight"] > 0 else 1
        d_every = recipe["r1_every"] if recipe["r1_gamma"] > 0 else 1
        g_tx = make_optimizer(lazy_adam_config(config.g_optimizer.to_dict(), g_every))
        d_tx = make_optimizer(lazy_adam_config(config.d_optimizer.to_dict(), d_every))
    except (ValueError, KeyError) as e:
        raise ConfigError(f"model / optimizer config: {e}") from None
    for name, value in (("g_architecture", m.g_architecture), ("d_architecture", m.d_architecture)):
        if value not in ("orig", "skip", "resnet"):
            raise ConfigError(f"model.{name}={value!r}; choose orig, skip or resnet")
    if m.g_style not in ("modulated", "adain"):
        raise ConfigError(f"model.g_style={m.g_style!r}; choose modulated or adain")
    if m.noise_layers not in NOISE_LAYERS:
        raise ConfigError(f"model.noise_layers={m.noise_layers!r}; choose one of {NOISE_LAYERS}")
    if m.conv_impl not in ("auto", "gemm", "xla", "xla_gemm"):
        raise ConfigError(f"model.conv_impl={m.conv_impl!r}; choose auto, gemm, xla or xla_gemm")
    if m.num_bf16_res < 0 or m.conv_clamp < 0:
        raise ConfigError(f"model.num_bf16_res and model.conv_clamp must be >= 0, got {m.num_bf16_res}, "
                          f"{m.conv_clamp}")
    e = config.eval
    for name in ("ppl_num_samples", "variation_latents", "variation_draws", "mixing_pairs"):
        if e[name] < 0:
            raise ConfigError(f"eval.{name} must be >= 0, got {e[name]}")
    if e.variation_latents and e.variation_draws < 2:
        raise ConfigError(f"eval.variation_draws must be >= 2 for a std over draws, got {e.variation_draws}")
    if e.ppl_num_samples and (e.ppl_space not in ("w", "z") or e.ppl_sampling not in ("end", "full")):
        raise ConfigError(f"eval.ppl_space must be w or z and eval.ppl_sampling end or full, got {e.ppl_space!r}, "
                          f"{e.ppl_sampling!r}")
    for setting in e.noise_settings:
        try:
            SE.noise_strengths_for(SE.as_float_or_name(setting), 1, {"coarse": (0, 1), "middle": (1, 1),
                                                                     "fine": (1, 1)})
        except ConfigError as err:
            raise ConfigError(f"eval.noise_settings: {err}") from None
    if config.batch_size % max(1, min(m.mbstd_group, config.batch_size)):
        raise ConfigError(f"batch_size={config.batch_size} must be a multiple of model.mbstd_group={m.mbstd_group}")
    return StyleGANSetup(generator=generator, discriminator=discriminator, g_tx=g_tx, d_tx=d_tx,
                         batch_size=config.batch_size, **recipe)


def final_evaluations(config, run: Run, setup: StyleGANSetup, state, evaluator, generate) -> tuple[dict, dict]:
    """The EMA generator's evaluations that `eval` asks for beyond FID (see `genvision_jax.tasks.stylegan_eval`):
    domain metrics per truncation ψ and per noise setting, inference-time style mixing (FID and the mixing
    consistency of each layer group), stochastic-variation maps, and PPL."""
    e, G = config.eval, setup.generator
    metrics: dict[str, Any] = {}
    protocol: dict[str, Any] = {}
    bs, zdim = e.batch_size, setup.latent_dim
    groups = SE.layer_groups(G.resolution, G.style)
    n_layers = 2 * int(round(np.log2(G.resolution))) - (2 if G.style == "adain" else 3)

    def z_batch(stream, i):
        return jax.random.normal(run.key(stream, i), (bs, zdim))

    def clipped(x):
        return np.clip(gather_to_host(x), -1.0, 1.0)

    if evaluator is not None:
        for psi in e.truncation_psis:
            r = evaluator(lambda i: clipped(generate(state.g_ema, state.g_vars, z_batch("fid", i),  # noqa: B023
                                                     run.key("fid_noise", i), float(psi))),
                          {"generator": "ema", "psi": float(psi), "z_stream": "fid"})
            metrics.update(scores_for_log(r, suffix=f"_psi{float(psi):g}"))
        for setting in e.noise_settings:
            spec = SE.as_float_or_name(setting)
            strengths = tuple(SE.noise_strengths_for(spec, n_layers, groups))
            r = evaluator(lambda i: clipped(generate(state.g_ema, state.g_vars, z_batch("fid", i),  # noqa: B023
                                                     run.key("fid_noise", i), 1.0, None, "random", strengths)),
                          {"generator": "ema", "noise": setting, "z_stream": "fid"})
            metrics.update(scores_for_log(r, suffix=f"_noise_{setting}"))
        if e.mixing_eval:
            mixed = SE.make_mixed_generate(setup)
            n_ws = G.num_ws
            crossovers = {"random": None, **{f"k{k}": k for k in SE.group_crossovers(groups)}}
            for name, k in crossovers.items():
                def sample(i, k=k):
                    cross = (jax.random.randint(run.key("fid_cross", i), (bs,), 1, n_ws) if k is None
                             else jnp.full((bs,), k))
                    return clipped(mixed(state.g_ema, state.g_vars, z_batch("fid", i), z_batch("fid_mix", i), cross,
                                         run.key("fid_noise", i)))
                r = evaluator(sample, {"generator": "ema", "mixing": f"two latents, crossover {name}"})
                metrics.update(scores_for_log(r, suffix=f"_mix_{name}"))
            probes = SE.fit_attribute_probes(config.dataset.name, e.feature_extractor or config.dataset.name,
                                             config.dataset.image_size,
                                             options=tuple(sorted(config.dataset.options.to_dict().items())))
            protocol["attribute_probes"] = probes.protocol
            group_mix = SE.make_group_mix_generate(setup)
            feats = evaluator.features
            ws_of = jax.jit(lambda params, g_vars, z: G.apply({"params": params, **g_vars}, z, method=G.mapping))
            for gname, (a, b) in groups.items():
                if a == b:
                    continue
                rows = {"a": [], "b": [], "m": []}
                for i in range(-(-e.mixing_pairs // bs)):
                    wa = ws_of(state.g_ema, state.g_vars, z_batch("mix_a", i))
                    wb = ws_of(state.g_ema, state.g_vars, z_batch("mix_b", i))
                    key = run.key("mix_noise", i)
                    rows["a"].append(clipped(group_mix(state.g_ema, state.g_vars, wa, wb, 0, n_ws, key)))
                    rows["b"].append(clipped(group_mix(state.g_ema, state.g_vars, wa, wb, 0, 0, key)))
                    rows["m"].append(clipped(group_mix(state.g_ema, state.g_vars, wa, wb, a, b, key)))
                imgs = {k: np.concatenate(v)[: e.mixing_pairs] for k, v in rows.items()}
                cons = SE.mixing_consistency(feats, probes, imgs["a"], imgs["b"], imgs["m"])
                metrics.update({f"mixcons_{gname}_{attr}": v for attr, v in cons.items()})
            protocol["mixing_consistency"] = {
                "groups": {g: list(v) for g, v in groups.items()}, "pairs": e.mixing_pairs, "noise": "const",
                "definition": "least-squares slope of probe(mix) - probe(B) on probe(A) - probe(B); mix takes the "
                              "group's style vectors from A and the rest from B (1: the group controls it)"}
    if e.variation_latents:
        z = jax.random.normal(run.key("variation"), (e.variation_latents, zdim))
        settings = ["1"] + [s for s in e.noise_settings if s != "1"]
        maps = {}
        for setting in settings:
            strengths = tuple(SE.noise_strengths_for(SE.as_float_or_name(setting), n_layers, groups))
            draws = np.stack([clipped(generate(state.g_ema, state.g_vars, z, run.key("variation_noise", d), 1.0,
                                               None, "random", strengths)) for d in range(e.variation_draws)])
            maps[setting] = (draws, SE.stochastic_variation(draws))
            metrics[f"variation_std_noise_{setting}"] = float(maps[setting][1].mean())
        if jax.process_index() == 0:
            save_variation_figure(maps, run.workdir / "stochastic_variation.png")
        protocol["stochastic_variation"] = {"latents": e.variation_latents, "draws": e.variation_draws,
                                            "statistic": "per-pixel std over noise draws (ddof=1), mean over RGB"}
    if e.ppl_num_samples:
        r = SE.ppl_score(setup, state.g_ema, state.g_vars, run.key("ppl"), num_samples=e.ppl_num_samples,
                         batch_size=bs, space=e.ppl_space, sampling=e.ppl_sampling, crop=e.ppl_crop,
                         distance=e.ppl_distance, size=e.ppl_size)
        metrics[f"ppl_{e.ppl_space}_{e.ppl_sampling}"] = r["ppl"]
        protocol["ppl"] = {**r["protocol"], "generator": "ema"}
    return metrics, protocol


def save_variation_figure(maps: dict, path) -> None:
    """Rows: latents; per noise setting, two noise draws and the per-pixel std map (brighter = more variation)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = list(maps)
    n = next(iter(maps.values()))[0].shape[1]
    vmax = max(float(v[1].max()) for v in maps.values()) or 1.0
    fig, axes = plt.subplots(n, 3 * len(settings), figsize=(1.1 * 3 * len(settings), 1.1 * n + 0.4), squeeze=False)
    for j, setting in enumerate(settings):
        draws, std = maps[setting]
        for i in range(n):
            for c in range(2):
                axes[i, 3 * j + c].imshow((draws[c, i] + 1) / 2)
            axes[i, 3 * j + 2].imshow(std[i], cmap="magma", vmin=0, vmax=vmax)
        axes[0, 3 * j].set_title(f"noise {setting}", fontsize=7, loc="left")
    for ax in axes.ravel():
        ax.set_axis_off()
    fig.tight_layout(pad=0.2)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def make_data(config: ml_collections.ConfigDict, per_process_batch: int):
    d = config.dataset
    source = gdata.get_source(d.name, d.split, data_dir=d.data_dir or None, **source_kwargs(d))
    if not 0 <= d.max_images <= len(source):
        raise ConfigError(f"dataset.max_images={d.max_images}: the {d.name} {d.split} split has {len(source)} images")
    if d.max_images:  # a subset spread over the split (few-shot studies): every (len / n)-th record
        source = gdata.Subset(source, np.linspace(0, len(source) - 1, d.max_images).round().astype(int))
    transforms = [gdata.transforms.ScaleImage()]
    if d.random_flip:
        transforms.append(gdata.transforms.RandomFlip())
    transforms.append(gdata.transforms.SelectKeys(("image",)))
    return gdata.make_pipeline(source, batch_size=per_process_batch, seed=config.seed, transforms=transforms)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, mesh=None) -> dict[str, Any]:
    """Train the StyleGAN per `config` in `workdir` (resuming from its last checkpoint) and evaluate it."""
    run = Run(config, workdir, mesh=mesh, batch_keys=("batch_size", "eval.batch_size", "num_sample_images"))
    setup = make_setup(config)
    if config.eval.variation_latents % run.mesh.size:
        raise ConfigError(f"eval.variation_latents={config.eval.variation_latents} must be a multiple of the "
                          f"{run.mesh.size} devices")
    evaluator = make_evaluator(config)
    standard = make_standard_evaluator(config)
    pipeline = make_data(config, run.local_batch("batch_size"))

    state = run.init(lambda rng: init_stylegan_state(setup, rng))
    state = run.restore(state, data=pipeline)
    train_step = make_stylegan_train_step(setup, run.mesh)
    generate = make_generate(setup, run.mesh)
    sample_z = jax.random.normal(run.key("samples"), (config.num_sample_images, setup.latent_dim))
    psi = float(config.eval.psi)

    def evaluate(state, ema: bool = False, with_=None) -> dict:
        params, bs = (state.g_ema if ema else state.g_params), config.eval.batch_size
        # Clamped to [-1, 1] as the official metrics do when they quantise to uint8.
        sample = lambda i: np.clip(gather_to_host(generate(  # noqa: E731
            params, state.g_vars, jax.random.normal(run.key("fid", i), (bs, setup.latent_dim)),
            run.key("fid_noise", i), psi)), -1.0, 1.0)
        return (with_ or evaluator)(sample, {"generator": "ema" if ema else "raw", "psi": psi,
                                             "noise": "random (stream fid_noise)", "z_stream": "fid"})

    def save_samples(name: str, step: int) -> None:
        images = np.clip(gather_to_host(generate(state.g_ema, state.g_vars, sample_z, run.key("sample_noise"), 1.0)),
                         -1.0, 1.0)
        write_sample_grid(run, images, name, step)

    if run.start_step == 0:
        log_initial_scores(run, state, evaluate, evaluator, standard)

    for step in run.steps():
        state, metrics = train_step(state, run.global_batch(next(pipeline)), run.root)
        run.record(step, metrics)
        if evaluator is not None and run.every(step, config.eval.fid_every) and step != run.num_steps:
            with run.paused(state):
                run.log(step, scores_for_log(evaluate(state, ema=True), suffix="_ema"))
        if run.every(step, config.sample_every):
            with run.paused(state):
                save_samples(f"samples_{step:07d}.png", step)
        run.checkpoint(step, state, data=pipeline)
    pipeline.close()

    metrics_out: dict[str, Any] = dict(run.info.get("initial", {}))
    protocol: dict[str, Any] = {
        "dataset": config.dataset.name, "split": config.dataset.split, "image_size": config.dataset.image_size,
        "seed": config.seed, "steps": int(state.step), "global_batch_size": config.batch_size,
        "images_seen": int(state.step) * config.batch_size,
        "sampling": f"mapping -> truncation psi={psi} -> synthesis with random noise, clamped to [-1, 1]",
    }
    with run.paused(state):
        final_scores(run, state, config, evaluate, evaluator, standard, metrics_out, protocol, standard_ema=True)
        save_samples("samples_final.png", int(state.step))
        extra, extra_protocol = final_evaluations(config, run, setup, state, evaluator, generate)
        metrics_out.update(extra)
        protocol.update(extra_protocol)
    logged = [json.loads(line) for line in (run.workdir / "metrics.jsonl").read_text().splitlines()
              if '"r_t"' in line] if (run.workdir / "metrics.jsonl").exists() else []
    if logged:  # the overfitting heuristic E[sign(D(real))] over the last logging interval
        metrics_out["r_t_final"] = logged[-1]["r_t"]
    metrics_out.update({"train_steps": int(state.step), "train_time_s": run.train_time_s,
                        "pl_mean": float(state.pl_mean), "ada_p": float(state.ada_p)})
    return run.finish(metrics_out, protocol, state=state)
