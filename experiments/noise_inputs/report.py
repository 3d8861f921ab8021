"""The noise study's README tables: training with noise in all / no / coarse / fine layers, and the all-layer
generator with its noise scaled at inference."""

from __future__ import annotations

from pathlib import Path

from experiments.noise_inputs.configs.default import INFERENCE
from experiments.results import _relative, _table


def _v(r, m):
    return r[m]["values"][0] if m in r and r[m]["values"] else float("nan")


# Karras et al. 2019: adding noise inputs improves FFHQ FID (Table 1, D -> E: 4.88 -> 4.42); Fig. 5: without noise
# the images look featureless and 'painterly', coarse noise moves large-scale detail (hair curls, background),
# fine noise only the finest (stochastic) detail. Only the 'none' row has a number to compare with.
PAPER = {"all": ("reference (FFHQ 4.42)", "—"), "none": ("higher FID (FFHQ 4.88)", ""),
         "coarse": ("large-scale stochastic detail only (qualitative)", "see the variation column"),
         "fine": ("fine stochastic detail only (qualitative)", "see the variation column")}


def training_table(results: Path) -> str:
    doc = _table(results)
    base = next(r for r in doc["runs"] if r["name"] == "noise_all")
    lines = ["| trained with noise in | FID (domain) | stochastic variation (mean per-pixel std) | FID vs all layers | "
             "paper | ours as the paper |", "|---|---|---|---|---|---|"]
    for r in doc["runs"]:
        d = _v(r, "fid_final_ema") - _v(base, "fid_final_ema")
        name = r["trained with noise in"]
        paper, ours = PAPER.get(name, ("—", "—"))
        if name == "none":
            ours = "yes" if d > 0 else "no (FID not higher)"
        lines.append(f"| {name} | {_v(r, 'fid_final_ema'):.2f} | {_v(r, 'variation_std_noise_1'):.4f} "
                     f"| {'—' if r is base else f'{d:+.2f}'} | {paper} | {ours} |")
    return "\n".join(lines) + ("\n\n_one seed per row; variation: 8 latents x 16 noise draws, std over draws (ddof=1) "
                               "averaged over pixels and RGB; paper: Karras et al. 2019 Table 1 (FFHQ FID 4.88 without "
                               "noise inputs, 4.42 with) and Fig. 5 (qualitative); source "
                               f"`{_relative(results / 'table.json')}`._")


def inference_table(results: Path) -> str:
    doc = _table(results)
    r = next(x for x in doc["runs"] if x["name"] == "noise_all")
    lines = ["| noise at inference | FID (domain) | stochastic variation |", "|---|---|---|"]
    for s in INFERENCE:
        lines.append(f"| {s} | {_v(r, f'fid_noise_{s}'):.2f} | {_v(r, f'variation_std_noise_{s}'):.4f} |")
    return "\n".join(lines) + ("\n\n_the generator trained with noise in all layers; numbers scale every layer's noise (global "
                               "α), coarse_only / fine_only keep one group's noise, fine_x2 doubles the fine group's; source "
                               f"`{_relative(results / 'table.json')}`._")
