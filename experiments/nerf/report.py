"""The report of the radiance-field studies (nerf_encoding, nerf_hierarchical and sparse_views name it
in their configs; field_race and dnerf extend it): figures drawn from the runs' workdirs by
`experiments.sweep`."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image, ImageDraw

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def psnr_curve(run_dir: str | Path) -> list[tuple[float, float, int]]:
    """[(train_time_s, test_psnr, step)] of a run's PSNR-vs-time log (the curve evaluations, not the final one)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    curve = [(r["train_time_s"], r["test_psnr"], r["step"]) for r in rows
             if "test_psnr" in r and "train_time_s" in r and "test_ssim" not in r]
    return sorted(curve, key=lambda p: p[2])


def plot_psnr_vs_time(runs: list[dict], path: Path, title: str) -> None:
    """Test PSNR (curve views) against training wall time, one line per variant (its first seed)."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for i, r in enumerate(runs):
        curve = psnr_curve(r["dirs"][0])
        if curve:
            t, p, _ = zip(*curve)
            ax.plot(t, p, marker="o", ms=2.5, color=plt.cm.tab10(i % 10), label=r["name"])
    ax.set_xlabel("training wall time (s), evaluations excluded")
    ax.set_ylabel("test PSNR (dB)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render_mosaic(runs: list[dict], path: Path, view: int = 0) -> None:
    """One row per variant (first seed): its `renders/view_XXX.png` (ground truth | render | depths),
    labelled with the variant's name; runs without renders are left out."""
    rows = []
    for r in runs:
        png = Path(r["dirs"][0]) / "renders" / f"view_{view:03d}.png"
        if not png.exists():
            continue
        image = Image.open(png).convert("RGB")
        scale = max(1, 128 // image.height)
        image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
        label = Image.new("RGB", (150, image.height), "white")
        ImageDraw.Draw(label).text((4, image.height // 2 - 6), r["name"], fill="black")
        rows.append(np.concatenate([np.asarray(label), np.asarray(image)], axis=1))
    if rows:
        width = max(x.shape[1] for x in rows)
        rows = [np.pad(x, ((0, 0), (0, width - x.shape[1]), (0, 0)), constant_values=255) for x in rows]
        Image.fromarray(np.concatenate(rows, axis=0)).save(path)


def plot_sweep(runs: list[dict], out_dir) -> None:
    """renders.png (test view 0 of every variant: ground truth | render | true depth | depth) and
    psnr_vs_time.png."""
    out_dir = Path(out_dir)
    render_mosaic(runs, out_dir / "renders.png")
    plot_psnr_vs_time(runs, out_dir / "psnr_vs_time.png", out_dir.name)
