"""README text of the tracker study, rendered from its committed results.json (`experiments.results`).

The study is one run (`python -m experiments.mot_trackers.main`), so its results live in
`experiments/mot_trackers/results/results.json` (`python -m experiments.results publish-run`).
"""

from __future__ import annotations

import json
from pathlib import Path

from genvision_jax.errors import InputError, MissingInputError
from genvision_jax.tasks.tracking.benchmark import TABLE_COLUMNS, markdown_table

_KIND = {key: kind for _, key, kind in TABLE_COLUMNS}


def _results(results: Path) -> tuple[dict, Path]:
    path = Path(results) / "results.json"
    if not path.is_file():
        raise MissingInputError(f"{path} does not exist (publish the study's run first)")
    return json.loads(path.read_text()), path


def _source(path: Path) -> str:
    return str(path.resolve().relative_to(Path(__file__).resolve().parents[2]))


def _entry(summary: dict, path: Path, level: str, tracker: str) -> dict:
    try:
        return summary[level][tracker]
    except KeyError:
        raise InputError(f"{path} has no tracker {tracker!r} at level {level!r}") from None


def _format(entry: dict, metric: str) -> str:
    if metric == "low_score":
        return f"{entry['low_score_recovered']:,} of {entry['low_score_total']:,}"
    if _KIND.get(metric) == "pct":
        return f"{100 * entry[metric]:.1f}"
    return f"{int(entry[metric]):,}"


def table(results: Path) -> str:
    """The whole table: a row per (level, tracker), as the run's own table.md."""
    doc, path = _results(results)
    summary = doc["metrics"]["summary"]  # results.json sorts keys: the levels in the config's order
    levels = [lv for lv in doc["config"]["benchmark"]["levels"] if lv in summary]
    ordered = {lv: summary[lv] for lv in levels + sorted(set(summary) - set(levels))}
    return markdown_table(ordered).rstrip() + f"\n\n_Source `{_source(path)}`._"


def inline(results: Path, level: str, metric: str, trackers: str) -> str:
    """'tracker value, ...' for `trackers` (separated by '+') at one level; metric `low_score` gives
    'recovered of total'."""
    doc, path = _results(results)
    summary = doc["metrics"]["summary"]
    return ", ".join(f"{t} {_format(_entry(summary, path, level, t), metric)}" for t in trackers.split("+"))


def value(results: Path, level: str, tracker: str, metric: str) -> str:
    """One number of the table."""
    doc, path = _results(results)
    return _format(_entry(doc["metrics"]["summary"], path, level, tracker), metric)


def reid(results: Path) -> str:
    """The ReID sentence: retrieval and cross-camera association, trained and untrained."""
    doc, _ = _results(results)
    m = doc["metrics"]
    t, u = m["reid"], m["reid_untrained"]
    return (f"trained: rank-1 {t['rank1']:.3f}, mAP {t['mAP']:.3f}, tracklet association precision "
            f"{t['association_precision']:.3f} and recall {t['association_recall']:.3f}; the same network "
            f"untrained: rank-1 {u['rank1']:.3f}, mAP {u['mAP']:.3f}, association precision "
            f"{u['association_precision']:.3f}, recall {u['association_recall']:.3f} (means over the held-out "
            f"scene pairs); {m['train_time_s']:.0f} s of ReID training")

