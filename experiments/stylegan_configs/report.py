"""The configs study's README table: A-F with both FIDs and PPL, each row's change from the previous row and the
paper's direction for that step (Karras et al. 2020 Table 1, FFHQ 1024²), computed from the committed results."""

from __future__ import annotations

from pathlib import Path

from experiments.results import _relative, _table

# What each step of Table 1 changes in the paper: FID (A 4.40 -> F 2.84) and path length.
PAPER = {"A": ("4.40", "baseline", "baseline"),
         "B": ("", "about unchanged", "—"),
         "C": ("", "about unchanged", "—"),
         "D": ("", "about unchanged", "lower (the regularizer's aim)"),
         "E": ("", "lower", "—"),
         "F": ("2.84", "lower", "—")}


def configs_table(results: Path) -> str:
    doc = _table(results)
    rows = {r["config"]: r for r in doc["runs"]}

    def v(r, m):
        return r[m]["values"][0] if r[m]["values"] else float("nan")

    lines = ["| config | FID (domain) | FID (Inception, 100 vs 100) | PPL (W, end) | train time (s) | paper FID | "
             "FID vs previous row (paper) | PPL vs previous row (paper) |", "|---|---|---|---|---|---|---|---|"]
    prev = None
    for letter in "ABCDEF":
        if letter not in rows:
            continue
        r = rows[letter]
        fid, fid_i, ppl, t = v(r, "fid_final_ema"), v(r, "fid_inception_final_ema"), v(r, "ppl_w_end"), v(r, "train_time_s")
        paper_fid, paper_fid_dir, paper_ppl_dir = PAPER[letter]
        if prev is None:
            d_fid = d_ppl = "—"
        else:
            d_fid = f"{fid - v(prev, 'fid_final_ema'):+.2f} ({paper_fid_dir})"
            d_ppl = f"{ppl - v(prev, 'ppl_w_end'):+.1f} ({paper_ppl_dir})"
        lines.append(f"| {letter} | {fid:.2f} | {fid_i:.1f} | {ppl:.1f} | {t:.0f} | {paper_fid or '—'} | {d_fid} | {d_ppl} |")
        prev = r
    return "\n".join(lines) + ("\n\n_one seed per config; EMA generator; PPL on 500 pairs, ε = 1e-4, LPIPS-like distance on "
                               f"EfficientNet-Lite0 taps at 64²; source `{_relative(results / 'table.json')}`._")
