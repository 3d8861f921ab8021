"""The truncation study's README table: FID, precision and recall per ψ, the paper's FID beside ours and whether
our number moves the paper's way from ψ = 1 (computed from the committed results, not written by hand)."""

from __future__ import annotations

from pathlib import Path

from experiments.results import _relative, _table

# FIDs of StyleGAN 2 on FFHQ 1024² per ψ as the source document quotes them (catalog item SG-Q3). Only
# ψ = 1's 2.84 is checked against a paper (Karras et al. 2020, Table 1, config F); the others are the document's
# and are shown for their direction (lowest at ψ = 1, rising both ways), not as verified paper numbers.
PAPER_FID = {0.5: 4.5, 0.7: 3.5, 1.0: 2.84, 1.1: 3.2, 1.5: 5.0}


def psi_table(results: Path, run: str = "stylegan2") -> str:
    doc = _table(results)
    row = next(r for r in doc["runs"] if r["name"] == run)
    psis = sorted({float(k[len("fid_psi"):]) for k in row if k.startswith("fid_psi")})

    def v(metric):
        values = row[metric]["values"]
        return values[0] if values else float("nan")

    at1 = {m: v(f"{m}_psi1") for m in ("fid", "precision", "recall")}
    lines = ["| ψ | FID (domain) | precision | recall | quoted FID (FFHQ) | FID vs ψ = 1 | precision vs ψ = 1 | "
             "recall vs ψ = 1 |", "|---|---|---|---|---|---|---|---|"]
    for p in psis:
        fid, prec, rec = (v(f"{m}_psi{p:g}") for m in ("fid", "precision", "recall"))
        paper = PAPER_FID.get(p)
        if p == 1.0:
            verdicts = ["reference"] * 3
        else:
            verdicts = [
                "higher (as the paper)" if fid > at1["fid"] else "lower (paper: higher)",
                ("higher (paper: higher)" if prec > at1["precision"] else "not higher (paper: higher)") if p < 1 else
                ("lower (paper: lower)" if prec < at1["precision"] else "not lower (paper: lower)"),
                ("lower (paper: lower)" if rec < at1["recall"] else "not lower (paper: lower)") if p < 1 else
                ("higher (paper: higher)" if rec > at1["recall"] else "not higher (paper: higher)"),
            ]
        lines.append(f"| {p:g} | {fid:.2f} | {prec:.3f} | {rec:.3f} | {'—' if paper is None else paper} | "
                     + " | ".join(verdicts) + " |")
    return "\n".join(lines) + (f"\n\n_one seed; EMA generator, the same latents at every ψ; quoted FIDs: StyleGAN 2 "
                               f"on FFHQ 1024² (Inception) as the source document gives them, only ψ = 1 (2.84) checked "
                               f"against the paper's Table 1; source `{_relative(results / 'table.json')}`._")
