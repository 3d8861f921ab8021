"""The mode-collapse study's report: the samples of every loss x remedy cell, drawn by `experiments.sweep`."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from genvision_jax.errors import InputError, MissingInputError  # noqa: E402


def plot_sweep(runs: list[dict], out_dir) -> None:
    """samples_<mixture>.png: the first seed's samples of every loss (rows) x remedy (cols)."""
    out_dir = Path(out_dir)
    for mixture in sorted({r["labels"]["mixture"] for r in runs}):
        sub = [r for r in runs if r["labels"]["mixture"] == mixture]
        losses = list(dict.fromkeys(r["labels"]["loss"] for r in sub))
        remedies = list(dict.fromkeys(r["labels"]["remedy"] for r in sub))
        fig, axes = plt.subplots(len(losses), len(remedies), figsize=(1.6 * len(remedies), 1.6 * len(losses)),
                                 squeeze=False)
        for i, loss in enumerate(losses):
            for j, remedy in enumerate(remedies):
                ax = axes[i, j]
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0:
                    ax.set_title(remedy, fontsize=7)
                if j == 0:
                    ax.set_ylabel(loss, fontsize=7)
                match = [r for r in sub if r["labels"]["loss"] == loss and r["labels"]["remedy"] == remedy]
                path = Path(match[0]["dirs"][0]) / "samples.npz" if match else None
                if path is None or not path.exists():
                    label = "n/a" if not match else ("failed" if match[0]["failed"] else "not run")
                    ax.text(0.5, 0.5, label, ha="center", va="center", fontsize=7, transform=ax.transAxes)
                    continue
                data = np.load(path)
                centers, x = data["centers"], data["samples"][0]
                limit = float(np.abs(centers).max()) * 1.5
                ax.scatter(x[:, 0], x[:, 1], s=0.3, alpha=0.3, color="tab:blue", rasterized=True)
                ax.scatter(centers[:, 0], centers[:, 1], s=4, marker="x", color="tab:red", linewidths=0.5)
                ax.set_xlim(-limit, limit)
                ax.set_ylim(-limit, limit)
                ax.set_aspect("equal")
        fig.tight_layout()
        fig.savefig(out_dir / f"samples_{mixture}.png", dpi=100)
        plt.close(fig)


def inline_cells(results: Path, mixture: str, remedy: str, metric: str = "modes_covered", digits: str = "1") -> str:
    """README text: one remedy's `metric` for every loss on one mixture, 'loss mean, ...' (mean over the
    seeds of each run), from the committed table.json."""
    path = Path(results) / "table.json"
    if not path.is_file():
        raise MissingInputError(f"{path} does not exist (publish the study's sweep first)")
    doc = json.loads(path.read_text())
    cells = [r for r in doc["runs"] if r.get("mixture") == mixture and r.get("remedy") == remedy]
    if not cells:
        raise InputError(f"{path} has no run with mixture {mixture!r} and remedy {remedy!r}")
    d = int(digits)
    return ", ".join(f"{r['loss']} {np.mean(r[metric]['values']):.{d}f}" if r[metric]["values"] else f"{r['loss']} —"
                     for r in cells)
