"""The few-shot ADA study's README table and figure: FID per data size and augmentation with the paper's
direction (ADA best at small data), and r_t / p over training per run."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from experiments.results import _relative, _table  # noqa: E402

AUGS = ("none", "fixed_p0.2", "ada")


def fid_table(results: Path) -> str:
    """FID per data size (rows) and augmentation (the columns the sweep ran), final p and r_t, ADA's FID gap."""
    doc = _table(results)
    by = {(r["training images"], r["augmentation"]): r for r in doc["runs"]}
    sizes = sorted({r["training images"] for r in doc["runs"]})
    augs = [a for a in AUGS if any(r["augmentation"] == a for r in doc["runs"])]
    names = {"none": "none", "fixed_p0.2": "fixed p = 0.2", "ada": "ADA"}

    def val(n, a, m):
        r = by.get((n, a))
        return r[m]["values"][0] if r and r[m]["values"] else float("nan")

    lines = ["| training images | " + " | ".join(f"FID: {names[a]}" for a in augs) + " | final p (ADA) | r_t at the "
             "end: " + " / ".join(names[a] for a in augs) + " | ADA − none (FID) | paper: ADA lower at small data |",
             "|---|" + "---|" * (len(augs) + 4)]
    for n in sizes:
        fids = [val(n, a, "fid_final_ema") for a in augs]
        rts = " / ".join(f"{val(n, a, 'r_t_final'):.2f}" for a in augs)
        gap = val(n, "ada", "fid_final_ema") - val(n, "none", "fid_final_ema")
        lines.append(f"| {n:,} | " + " | ".join(f"{f:.2f}" for f in fids)
                     + f" | {val(n, 'ada', 'ada_p'):.3f} | {rts} | {gap:+.2f} | "
                     + ("same direction" if gap < 0 else "not reproduced") + " |")
    return "\n".join(lines) + (f"\n\n_one seed per cell; FID of the EMA generator (1,000 samples) against the test split's "
                               f"500 unseen identities (domain extractor); source `{_relative(results / 'table.json')}`._")


def plot_sweep(runs: list[dict], out_dir) -> None:
    """ada_curves.png: r_t (top) and p (bottom) against images seen, one line per run."""
    out_dir = Path(out_dir)
    sizes = sorted({r["labels"]["training images"] for r in runs})
    fig, axes = plt.subplots(2, len(sizes), figsize=(3.7 * len(sizes), 5), sharex="col", squeeze=False)
    for j, n in enumerate(sizes):
        for r in (r for r in runs if r["labels"]["training images"] == n):
            path = Path(r["dirs"][0]) / "metrics.jsonl" if r["dirs"] else None
            if path is None or not path.exists():
                continue
            config = json.loads((path.parent / "config.json").read_text())
            config = config.get("config", config)
            rows = [json.loads(line) for line in path.read_text().splitlines()]
            rows = [x for x in rows if "r_t" in x]
            images = [x["step"] * config["batch_size"] for x in rows]
            axes[0, j].plot(images, [x["r_t"] for x in rows], label=r["labels"]["augmentation"])
            axes[1, j].plot(images, [x["ada_p"] for x in rows], label=r["labels"]["augmentation"])
        axes[0, j].set_title(f"{n:,} training images", fontsize=9)
        axes[0, j].axhline(0.6, color="gray", lw=0.5, ls="--")
        axes[1, j].set_xlabel("images seen")
    axes[0, 0].set_ylabel("r_t = E[sign D(real)]")
    axes[1, 0].set_ylabel("augmentation p")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_dir / "ada_curves.png", dpi=100)
    plt.close(fig)
