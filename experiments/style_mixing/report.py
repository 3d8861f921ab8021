"""The style-mixing study's README tables: FID with 1 and 2 latents per training mixing probability (Karras et al.
2019 Table 2's layout) and the mixing-consistency matrix (layer group x attribute) of each generator."""

from __future__ import annotations

from pathlib import Path

from experiments.results import _relative, _table
from experiments.style_mixing.configs.default import ATTRIBUTES, GROUPS


def fid_table(results: Path) -> str:
    doc = _table(results)

    def v(r, m):
        return r[m]["values"][0] if r[m]["values"] else float("nan")

    lines = ["| training mixing | 1 latent | 2 latents, random crossover | 2 latents, crossover at 3 | "
             "2 latents, crossover at 5 | 2 latents (random) minus 1 latent |", "|---|---|---|---|---|---|"]
    for r in doc["runs"]:
        one, rand = v(r, "fid_final_ema"), v(r, "fid_mix_random")
        lines.append(f"| {r['mixing']} | {one:.2f} | {rand:.2f} | {v(r, 'fid_mix_k3'):.2f} | {v(r, 'fid_mix_k5'):.2f} "
                     f"| {rand - one:+.2f} |")
    return "\n".join(lines) + ("\n\n_one seed per row; EMA generator, domain FID on 1,000 samples; crossover k: ws 0..k-1 "
                               f"from the first latent; source `{_relative(results / 'table.json')}`._")


def consistency_table(results: Path, run: str = "mix0.9") -> str:
    doc = _table(results)
    r = next(x for x in doc["runs"] if x["name"] == run)
    lines = ["| attribute | " + " | ".join(GROUPS) + " | controlled by |", "|---" * (len(GROUPS) + 2) + "|"]
    for a in ATTRIBUTES:
        vals = [r[f"mixcons_{g}_{a}"]["values"][0] for g in GROUPS]
        lines.append(f"| {a} | " + " | ".join(f"{x:.2f}" for x in vals) + f" | {GROUPS[max(range(3), key=vals.__getitem__)]} |")
    return "\n".join(lines) + (f"\n\n_{r['mixing']}; each cell: the share of the attribute (as the probes read it) that follows "
                               "the latent supplying that group's styles (1: all of it); 500 pairs, constant noise; source "
                               f"`{_relative(results / 'table.json')}`._")
