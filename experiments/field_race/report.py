"""The field race's report (its runs train with the radiance-field trainer, genvision_jax.tasks.nerf):
how long each field takes to reach NeRF's final PSNR.

race.json / race.md: for every field, its final curve PSNR (the first `eval.curve_views` test views,
the views of the PSNR-vs-time curves), the training wall time of its first curve point at or above
NeRF's final curve PSNR, and that time over NeRF's total training time (Instant-NGP's claim, checked
in the README: at most 1/5). Times are training steps only, evaluations excluded.
"""

from __future__ import annotations

import json
from pathlib import Path

from experiments.nerf.report import plot_psnr_vs_time, psnr_curve, render_mosaic
from genvision_jax.errors import MissingInputError

REFERENCE = "nerf"
THRESHOLDS_DB = (18, 20, 22)  # curve PSNRs whose time to reach the race table lists, with each field's final


def race_summary(runs: list[dict]) -> dict:
    """{'reference': {...}, 'fields': {name: {final_curve_psnr, time_to_reference_s, ratio, ...}}}."""
    curves = {r["name"]: psnr_curve(r["dirs"][0]) for r in runs}
    if not curves.get(REFERENCE):
        return {"reference": None, "fields": {}}
    ref_time, ref_psnr, ref_step = curves[REFERENCE][-1]
    fields = {}
    for name, curve in curves.items():
        if not curve:
            continue
        reached = [(t, p, s) for t, p, s in curve if p >= ref_psnr]
        t_hit = reached[0] if reached else None
        fields[name] = {
            "final_curve_psnr": curve[-1][1], "train_time_s": curve[-1][0], "steps": curve[-1][2],
            "time_to_reference_psnr_s": t_hit[0] if t_hit else None,
            "step_reaching_reference_psnr": t_hit[2] if t_hit else None,
            "time_ratio_to_reference": t_hit[0] / ref_time if t_hit else None,
        }
    levels = [(f"{v:g} dB", float(v)) for v in THRESHOLDS_DB]
    levels += [(f"{f['final_curve_psnr']:.2f} dB ({name}'s final)", f["final_curve_psnr"]) for name, f in fields.items()]
    thresholds = []
    for label, level in sorted(levels, key=lambda x: x[1]):
        times = {}
        for name, curve in curves.items():
            hit = next(((t, s) for t, p, s in curve if p >= level), None)
            times[name] = None if hit is None else {"time_s": hit[0], "step": hit[1]}
        thresholds.append({"label": label, "psnr": level, "times": times})
    return {"reference": {"field": REFERENCE, "final_curve_psnr": ref_psnr, "train_time_s": ref_time,
                          "steps": ref_step}, "fields": fields, "thresholds": thresholds}


def plot_sweep(runs: list[dict], out_dir) -> None:
    """renders.png, psnr_vs_time.png (the race) and race.json / race.md (time to NeRF's PSNR)."""
    out_dir = Path(out_dir)
    render_mosaic(runs, out_dir / "renders.png")
    summary = race_summary(runs)
    title = "field race"
    if summary["reference"]:
        title += f" — NeRF final curve PSNR {summary['reference']['final_curve_psnr']:.2f} dB"
    plot_psnr_vs_time(runs, out_dir / "psnr_vs_time.png", title)
    (out_dir / "race.json").write_text(json.dumps(summary, indent=2))
    (out_dir / "race.md").write_text(race_markdown(summary) + "\n")


def race_markdown(summary: dict) -> str:
    """The race table: per field its final curve PSNR, steps, train time and time to NeRF's final PSNR."""
    lines = ["| field | final curve PSNR (dB) | steps | train time (s) | time to NeRF's final PSNR (s) | / NeRF's time |",
             "|---|---|---|---|---|---|"]
    for name, f in summary["fields"].items():
        hit = (f"{f['time_to_reference_psnr_s']:.0f} (step {f['step_reaching_reference_psnr']})"
               if f["time_to_reference_psnr_s"] is not None else "not reached")
        ratio = f"{f['time_ratio_to_reference']:.3f}" if f["time_ratio_to_reference"] is not None else "—"
        lines.append(f"| {name} | {f['final_curve_psnr']:.2f} | {f['steps']} | {f['train_time_s']:.0f} | {hit} | {ratio} |")
    return "\n".join(lines)


def _race_json(results: Path) -> tuple[dict, Path]:
    """The committed race.json and its path relative to the repository."""
    path = Path(results) / "race.json"
    if not path.is_file():
        raise MissingInputError(f"{path} does not exist (publish the study's sweep first)")
    return json.loads(path.read_text()), path.resolve().relative_to(Path(__file__).resolve().parents[2])


def race_thresholds(results: Path) -> str:
    """README block: the training time each field needs to reach each PSNR on the curve views, and that
    time over NeRF's (the claim's ratio), from the committed race.json."""
    summary, source = _race_json(results)
    fields = list(summary["fields"])
    head = ["curve PSNR reached"] + [f"{f}" + ("" if f == REFERENCE else f" (/ {REFERENCE})") for f in fields]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for row in summary["thresholds"]:
        ref = row["times"].get(REFERENCE)
        cells = [row["label"]]
        for f in fields:
            t = row["times"].get(f)
            if t is None:
                cells.append("not reached")
            elif f == REFERENCE or ref is None:
                cells.append(f"{t['time_s']:.0f} s")
            else:
                cells.append(f"{t['time_s']:.0f} s ({t['time_s'] / ref['time_s']:.2f})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + f"\n\n_Training wall time to the first curve evaluation at or above the PSNR; source `{source}`._"


def race(results: Path) -> str:
    """README block: the race table from the committed race.json."""
    summary, source = _race_json(results)
    return race_markdown(summary) + f"\n\n_Curve PSNR: the first test views of the curves; source `{source}`._"


def inline_ratio(results: Path, field: str = "instant_ngp") -> str:
    """Inline README text: `field`'s time to NeRF's final curve PSNR over NeRF's training time."""
    summary, _ = _race_json(results)
    entry = summary["fields"][field]
    ratio = entry.get("time_ratio_to_reference")
    if ratio is None:
        return f"never (not within its {entry['steps']} steps)"
    return f"{ratio:.2f} ({entry['time_to_reference_psnr_s']:.0f} s against {summary['reference']['train_time_s']:.0f} s)"


__all__ = ["inline_ratio", "plot_sweep", "race", "race_markdown", "race_summary", "race_thresholds"]
