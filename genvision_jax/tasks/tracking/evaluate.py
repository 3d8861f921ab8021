"""Evaluate tracker results against ground truth (MOTChallenge text files): CLEAR, Identity, HOTA, MT/ML.

    python -m genvision_jax.tasks.tracking evaluate GT_FILE RESULT_FILE [--json] [--iou 0.5]
    python -m genvision_jax.tasks.tracking evaluate GT1 RES1 GT2 RES2 ...     # several sequences + overall

Ground-truth rows whose consider flag (7th column) is 0 are dropped, as in MOTChallenge and
py-motmetrics' evaluation; with `--classes 1` only those classes are kept. Distractor handling
(TrackEval's removal of results matched to distractor classes) is not done.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from genvision_jax.cli import ArgumentParser, exits_on_user_error
from genvision_jax.metrics import mot as mot_metrics
from genvision_jax.tracking.mot_io import MOTTable, read_mot


def load_ground_truth(path, classes: list[int] | None = None) -> MOTTable:
    gt = read_mot(path)
    keep = gt.conf != 0
    if classes:
        keep &= np.isin(gt.cls, classes)
    return gt.select(keep)


def evaluate_files(gt_path, result_path, iou_threshold: float = 0.5, classes: list[int] | None = None) -> dict:
    """Metrics of one sequence from its files (see genvision_jax.metrics.mot.evaluate_mot)."""
    return mot_metrics.evaluate_mot(load_ground_truth(gt_path, classes), read_mot(result_path), iou_threshold)


def format_table(rows: dict[str, dict]) -> str:
    """A fixed-width table, one line per sequence: percentages with one decimal, counts as integers."""
    header = ["Sequence"] + [name for name, _, _ in mot_metrics.DISPLAY]
    width = max([len(h) for h in header[:1]] + [len(k) for k in rows]) + 2
    lines = [header[0].ljust(width) + "".join(f"{h:>8}" for h in header[1:])]
    for name, m in rows.items():
        cells = []
        for _, key, kind in mot_metrics.DISPLAY:
            v = m[key]
            cells.append(f"{100 * v:8.1f}" if kind == "pct" else f"{int(v):8d}")
        lines.append(name.ljust(width) + "".join(cells))
    return "\n".join(lines)


@exits_on_user_error
def main(argv=None) -> int:
    parser = ArgumentParser(prog="python -m genvision_jax.tasks.tracking evaluate", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", help="GT_FILE RESULT_FILE [GT_FILE RESULT_FILE ...]")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--iou", type=float, default=0.5, help="IoU threshold of a match for CLEAR and Identity")
    parser.add_argument("--classes", type=int, nargs="*", default=None, help="ground-truth classes to keep")
    args = parser.parse_args(argv)
    if len(args.files) % 2:
        parser.error(f"expected pairs of GT_FILE RESULT_FILE, got {len(args.files)} paths")
    if not 0.0 < args.iou <= 1.0:
        parser.error(f"--iou={args.iou}: the IoU threshold must be in (0, 1]")
    start = time.perf_counter()
    results = {}
    for gt_path, res_path in zip(args.files[::2], args.files[1::2]):
        results[res_path] = evaluate_files(gt_path, res_path, args.iou, args.classes)
    if len(results) > 1:
        results["OVERALL"] = mot_metrics.combine(list(results.values()))
    elapsed = time.perf_counter() - start
    if args.json:
        out = {name: {k: v for k, v in m.items() if k != "counts"} for name, m in results.items()}
        print(json.dumps({"sequences": out, "iou_threshold": args.iou, "seconds": round(elapsed, 4)}, indent=2))
    else:
        print(format_table(results))
        print(f"({elapsed:.2f} s; IoU threshold {args.iou}; HOTA averaged over alpha = 0.05..0.95)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
