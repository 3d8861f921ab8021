"""The style-mixing study's README tables: FID with 1 and 2 latents per training mixing probability (Karras et al.
2019 Table 2's layout) and the mixing-consistency matrix (layer group x attribute) of each generator."""

from __future__ import annotations

from pathlib import Path

from experiments.results import _relative, _table
from experiments.style_mixing.configs.default import ATTRIBUTES, GROUPS


# Karras et al. 2019 ("A Style-Based Generator Architecture for GANs"), Table 2: FFHQ FID of generators trained
# with mixing probability p, evaluated with 1 and with 2 latents mixed at a random crossover.
PAPER_FID = {0.0: (4.42, 8.22), 0.5: (4.41, 6.10), 0.9: (4.40, 5.11)}


def fid_table(results: Path) -> str:
    doc = _table(results)

    def v(r, m):
        return r[m]["values"][0] if r[m]["values"] else float("nan")

    lines = ["| training mixing | 1 latent | 2 latents, random crossover | 2 latents, crossover at 3 | "
             "2 latents, crossover at 5 | 2 latents (random) minus 1 latent | paper (FFHQ): 1 → 2 latents | "
             "paper: 2 latents degrade FID at p = 0, less with mixing |", "|---|---|---|---|---|---|---|---|"]
    gap0 = None
    for r in doc["runs"]:
        one, rand = v(r, "fid_final_ema"), v(r, "fid_mix_random")
        gap = rand - one
        p = float(r["mixing"].split("=")[1])
        if p == 0.0:
            gap0 = gap
            verdict = "degrades (as the paper)" if gap > 0 else "does not degrade (paper: +3.80)"
        elif gap0 is None or gap0 <= 0:
            verdict = "— (p = 0 does not degrade: nothing to reduce)"
        else:
            verdict = "smaller (as the paper)" if gap < gap0 else "not smaller"
        paper = PAPER_FID.get(p)
        lines.append(f"| {r['mixing']} | {one:.2f} | {rand:.2f} | {v(r, 'fid_mix_k3'):.2f} | {v(r, 'fid_mix_k5'):.2f} "
                     f"| {gap:+.2f} | {'—' if paper is None else f'{paper[0]} → {paper[1]}'} | {verdict} |")
    return "\n".join(lines) + ("\n\n_one seed per row; EMA generator, domain FID on 1,000 samples; crossover k: ws 0..k-1 "
                               "from the first latent; paper: Karras et al. 2019 Table 2 (FFHQ 1024², FID with 1 and 2 "
                               f"latents at test); source `{_relative(results / 'table.json')}`._")


# Karras et al. 2019, Fig. 3: coarse styles (4²-8²) carry pose, general hair style, face shape and eyeglasses;
# middle (16²-32²) smaller facial features, hair style, eyes open/closed; fine (64²-1024²) the colour scheme and
# microstructure. Our attributes mapped to those words (occluders like eyeglasses; expression as a facial feature;
# every colour to fine); age is not named.
PAPER_GROUP = {"yaw": "coarse", "pitch": "coarse", "roll": "coarse", "glasses": "coarse", "hat": "coarse",
               "mask": "coarse", "smile": "middle", "skin_tone": "fine", "light": "fine", "hair_color": "fine",
               "background": "fine", "shirt_color": "fine"}


def consistency_table(results: Path, run: str = "mix0.9") -> str:
    doc = _table(results)
    r = next(x for x in doc["runs"] if x["name"] == run)
    lines = ["| attribute | " + " | ".join(GROUPS) + " | controlled by | paper (Fig. 3) |",
             "|---" * (len(GROUPS) + 3) + "|"]
    for a in ATTRIBUTES:
        vals = [r[f"mixcons_{g}_{a}"]["values"][0] for g in GROUPS]
        ours, paper = GROUPS[max(range(3), key=vals.__getitem__)], PAPER_GROUP.get(a)
        verdict = "not stated" if paper is None else ("as the paper" if ours == paper else f"paper: {paper}")
        lines.append(f"| {a} | " + " | ".join(f"{x:.2f}" for x in vals) + f" | {ours} | {verdict} |")
    return "\n".join(lines) + (f"\n\n_{r['mixing']}; each cell: the share of the attribute (as the probes read it) that follows "
                               "the latent supplying that group's styles (1: all of it); 500 pairs, constant noise; source "
                               f"`{_relative(results / 'table.json')}`._")
