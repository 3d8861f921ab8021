"""Renderers of the generated blocks in benchmarks/README.md (`python -m experiments.results readme`).

Each is renderer(results_dir, **args) -> markdown, reading the committed JSON in benchmarks/results/.
"""

from __future__ import annotations

import json
from pathlib import Path

from genvision_jax.errors import MissingInputError


def _load(results: Path, name: str) -> dict:
    path = Path(results) / name
    if not path.is_file():
        raise MissingInputError(f"no benchmark result {path}")
    return json.loads(path.read_text())


def _ms(seconds) -> str:
    return "—" if seconds is None else f"{seconds * 1e3:,.1f}"


def conv_layers(results: Path, file: str = "conv_layers.json") -> str:
    """One row per layer: plan, medians (ms) of ours auto / gemm / xla, flax, torch, ratio, GFLOP/s."""
    doc = _load(results, file)
    peak = doc["matmul_peak"]
    lines = ["| layer | input | auto plan (fwd/dx/dw) | ours auto | ours gemm | ours xla | flax | torch | "
             "ours/torch | GFLOP/s ours (torch) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for layer in doc["layers"]:
        sec = layer["seconds"]
        med = lambda k: sec.get(k, {}).get("median")
        spread = f" ({_ms(sec['ours_auto']['min'])}–{_ms(sec['ours_auto']['max'])})"
        plan = "/".join(layer["auto_plan"]) if layer.get("auto_plan") else "shifted slices"
        gf = layer["gflops_per_s"]
        lines.append(
            f"| {layer['name']} | {'x'.join(map(str, layer['in_shape']))} | {plan} | {_ms(med('ours_auto'))}{spread} | "
            f"{_ms(med('ours_gemm'))} | {_ms(med('ours_xla'))} | {_ms(med('flax'))} | {_ms(med('torch'))} | "
            f"{layer['ratios'].get('ours_auto_over_torch', '—')} | {gf.get('ours_auto', '—')} ({gf.get('torch', '—')}) |")
    s = doc["summary"]
    lines.append("")
    lines.append(f"_Milliseconds per fwd+bwd step, median of the run (min–max for ours). Matmul peak in the same "
                 f"run: jax {peak['jax_gflops']:.0f} GFLOP/s, torch {peak.get('torch_gflops', 0):.0f} GFLOP/s. "
                 f"ours/torch: median {s.get('median_ratio')}, max {s.get('max_ratio')}; layers above 1.3: "
                 f"{', '.join(s.get('layers_over_1.3') or []) or 'none'}; the 3x3 128->128 reference conv at "
                 f"{s.get('ref_conv3x3_fraction_of_jax_matmul_peak')} of the jax matmul peak. "
                 f"Source `benchmarks/results/{file}`._")
    return "\n".join(lines)


def xla_flags(results: Path, file: str = "xla_flags.json") -> str:
    doc = _load(results, file)
    layers = doc["layers"]
    lines = ["| setting | matmul GFLOP/s | " + " | ".join(f"{l} (ms)" for l in layers) + " |",
             "|---|---|" + "---|" * len(layers)]
    for name, r in doc["settings"].items():
        if "error" in r:
            lines.append(f"| {name} | failed: {r['error'][:80]} |" + " |" * len(layers))
            continue
        cells = [f"{r['layers'][l]['ours_auto'] * 1e3:,.0f}" for l in layers]
        lines.append(f"| {name} | {r['matmul_gflops']:.0f} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"_Ours (impl=\"auto\") fwd+bwd medians of {doc['repeats']} calls, each setting in a fresh process; "
                 f"source `benchmarks/results/{file}`._")
    return "\n".join(lines)


def hash_grid(results: Path, file: str = "hash_grid_components.json") -> str:
    doc = _load(results, file)
    on, off = doc["barrier_on"], doc["barrier_off"]
    lines = ["| component | before: no barrier (ms) | after: fusion_barrier (ms) | before/after |", "|---|---|---|---|"]
    for key in on:
        if key == "train_rays_per_s":
            continue
        lines.append(f"| {key} | {off[key]:,.1f} | {on[key]:,.1f} | {doc['off_over_on'][key]} |")
    lines.append(f"| training rays/s | {off['train_rays_per_s']:,} | {on['train_rays_per_s']:,} | |")
    lines.append("")
    lines.append(f"_{doc['config']}; {doc['protocol']}; source `benchmarks/results/{file}`._")
    return "\n".join(lines)


def fields(results: Path, file: str = "fields_rays_per_s.json") -> str:
    doc = _load(results, file)
    nerf = doc["fields"].get("nerf", {}).get("train", {}).get("rays_per_s")
    lines = ["| field | train rays/s (best block) | median | × NeRF | render rays/s |", "|---|---|---|---|---|"]
    for name, f in doc["fields"].items():
        ratio = f"{f['train']['rays_per_s'] / nerf:.2f}" if nerf else "—"
        lines.append(f"| {name} | {f['train']['rays_per_s']:,.0f} | {f['train']['rays_per_s_median']:,.0f} | {ratio} | "
                     f"{f['render']['rays_per_s']:,.0f} |")
    lines.append("")
    lines.append(f"_{doc['steps_per_block']} steps per block, {doc['repeats']} blocks; {doc['protocol']}; source "
                 f"`benchmarks/results/{file}`._")
    return "\n".join(lines)


def fid(results: Path, file: str = "metrics_fid10k_digits_sqrtm2048.json") -> str:
    d = _load(results, file)["distribution_metrics"]
    f = d["fid"]
    e2e = d.get("fid_end_to_end_s")
    text = (f"FID {d['n_real']:,} vs {d['n_fake']:,} at {d['image_shape'][0]}² with `{d['feature_extractor']}`: "
            f"{f['wall_s']:.1f} s streamed (features + float64 statistics + matrix square root)")
    if e2e is not None:
        text += f", {e2e:.1f} s end to end including loading the extractor and compiling"
    return text + f"; features alone {d['features_buffered_s']:.1f} s. Source `benchmarks/results/{file}`."


def dcgan(results: Path, file: str = "dcgan_step_64px_b64.json") -> str:
    doc = _load(results, file)
    runs = doc.get("runs") or [doc]
    cells = [f"{r['jax']['median_s']:.3f} s vs {r['torch']['median_s']:.3f} s (ratio {r['ratio_jax_over_torch']:.2f})"
             for r in runs]
    return (f"DCGAN 64² train step, batch 64, median of {doc['steps_timed']} steps, ours vs PyTorch CPU side by side: "
            + "; ".join(cells) + f". Source `benchmarks/results/{file}`.")


def conv_summary(results: Path, file: str = "conv_layers.json") -> str:
    doc = _load(results, file)
    s = doc["summary"]
    return (f"Conv layers fwd+bwd, {len(doc['layers'])} shapes of the conv families, ours/PyTorch: median "
            f"{s['median_ratio']}, max {s['max_ratio']} ({len(s['layers_over_1.3'])} above 1.3); the 3x3 128→128 "
            f"reference conv at {s['ref_conv3x3_fraction_of_jax_matmul_peak']:.0%} of the matmul peak measured in "
            f"the same run ({doc['matmul_peak']['jax_gflops']:.0f} GFLOP/s). Source `benchmarks/results/{file}`.")


def metrics_table(results: Path, file: str = "metrics_fid10k_digits_sqrtm2048.json") -> str:
    doc = _load(results, file)
    d, q = doc["distribution_metrics"], doc["sqrtm"]
    f, k, p = d["fid"], d["kid"], d["prdc_k3"]
    single, trace = q["sqrtm_single"], q["trace_sqrt_product"]
    e2e = d.get("fid_end_to_end_s")
    rows = [
        "| task | wall time | memory |", "|---|---|---|",
        f"| FID, {d['n_real']:,} vs {d['n_fake']:,} 32x32 images, digits features, streamed in batches of "
        f"{d['stream_batch']:,} | {f['wall_s']:.1f} s" + (f" ({e2e:.1f} s with loading and compiling the extractor)"
                                                           if e2e is not None else "")
        + f" | {f['tracemalloc_peak_mb']:.1f} MB peak host allocations beyond the input images (tracemalloc); "
        f"{f['rss_peak_mb_after']:.0f} MB process RSS |",
        f"| KID, {k['num_subsets']} subsets of {k['subset_size']:,} (same features) | {k['wall_s']:.1f} s | "
        f"{k['tracemalloc_peak_mb']:.0f} MB |",
        f"| precision/recall/density/coverage, k=3 | {p['wall_s']:.1f} s | {p['tracemalloc_peak_mb']:.0f} MB "
        f"(blocks of {p['block_size']:,} rows) |",
        f"| square root of a {q['dim']}x{q['dim']} covariance: ours (`psd_sqrt`) vs `scipy.linalg.sqrtm` | "
        f"{single['ours_s']:.1f} s vs {single['scipy_s']:.1f} s ({single['speedup']:.1f}x) | residual "
        f"‖R² − S‖/‖S‖ {single['ours_residual_rel']:.1e} vs {single['scipy_residual_rel']:.1e} |",
        f"| Tr((S1 S2)^½), as FID needs it: ours vs `trace(sqrtm(S1 @ S2))` | {trace['ours_s']:.1f} s vs "
        f"{trace['scipy_s']:.1f} s ({trace['speedup']:.1f}x) | |",
    ]
    return "\n".join(rows) + f"\n\n_1 JAX device, this 2-core CPU; source `benchmarks/results/{file}`._"


def stylegan_step(results: Path, file: str = "stylegan2_step.json") -> str:
    """The StyleGAN 2 training step (lazy regularizers amortised), ours vs the PyTorch implementation."""
    doc = _load(results, file)
    lines = ["| image size | batch | ours s/step | PyTorch s/step | ours / PyTorch | our compile (s) |",
             "|---|---|---|---|---|---|"]
    for row in doc["steps"]:
        lines.append(f"| {row['image_size']}² | {row['batch']} | {row['ours']['s_per_step']:.3f} | "
                     f"{row['torch']['s_per_step']:.3f} | {row['ratio_ours_over_torch']:.2f} | "
                     f"{row['ours']['compile_s']:.0f} |")
    m = doc["machine"]
    return "\n".join(lines) + (f"\n\n_Mean over a 16-step period (1 R1 step, 4 path-length steps), after a warm-up period; "
                               f"{m['cpu']} ({m.get('cores_usable', m['cores'])} of {m['cores']} cores usable by the process), torch {m['torch_threads']} threads, load average at "
                               f"start {m['loadavg_at_start'][0]:.1f}; source `benchmarks/results/{file}`._")


def modconv_layers(results: Path, file: str = "stylegan2_step.json") -> str:
    """Modulated convolution per layer: our three formulations vs torch's grouped conv (ms, fwd / fwd+bwd)."""
    doc = _load(results, file)

    def cell(row, key):
        f, b = row.get(f"{key}_fwd_ms"), row.get(f"{key}_fwd_bwd_ms")
        return f"{_num(f)} / {_num(b)}"

    lines = ["| layer (batch 32) | ours scaled | ours batched_gemm | ours grouped | torch grouped | best ours / torch (fwd+bwd) |",
             "|---|---|---|---|---|---|"]
    for row in doc["modconv_layers"]:
        lines.append(f"| {row['layer']} | {cell(row, 'ours_scaled')} | {cell(row, 'ours_batched_gemm')} | "
                     f"{cell(row, 'ours_grouped')} | {cell(row, 'torch_grouped')} | "
                     f"{row['ratio_best_ours_over_torch_fwd_bwd']:.2f} |")
    return "\n".join(lines) + ("\n\n_Milliseconds, forward / forward+backward, median of repeated calls; '—': not timed "
                               "(XLA:CPU's grouped-conv backward takes minutes at these sizes); source "
                               f"`benchmarks/results/{file}`._")


def _num(v) -> str:
    return "—" if v is None else f"{v:,.1f}"
