"""Multi-object tracking metrics: CLEAR MOT, Identity, HOTA and MT/PT/ML in one pass over the frames.

- CLEAR MOT (Bernardin & Stiefelhagen 2008): per frame, ground-truth objects keep their previous
  hypothesis if it still overlaps (IoU >= iou_threshold), the rest are matched by minimum total
  distance (Hungarian); a match that differs from the object's previous one is an identity switch.
  MOTA = 1 - (FN + FP + IDSW) / #objects. MOTP here is the mean IoU of the matches (MOTChallenge
  convention; py-motmetrics reports the mean distance 1 - IoU instead). Fragmentations count the
  interruptions of an object's tracked span. Event rules follow py-motmetrics 1.4 exactly, so the
  counts equal its counts (tests/metrics/test_mot_metrics.py).
- Identity (Ristani et al. 2016): one global one-to-one mapping of object ids to hypothesis ids that
  maximises the frames in which mapped pairs overlap (IoU >= iou_threshold), IDF1 = 2 IDTP /
  (#objects + #hypotheses).
- HOTA (Luiten et al. 2021): for each localisation threshold alpha in 0.05, 0.10, ..., 0.95, per-frame
  matching that maximises IoU weighted by the pair's global alignment score; DetA = TP / (TP + FN + FP),
  AssA = mean over TPs of the Jaccard index of their pair's trajectories, HOTA_alpha = sqrt(DetA AssA);
  HOTA is the mean over alpha (TrackEval's definition, including its tie-breaking epsilons).
- MT / PT / ML (Li et al. 2009): objects tracked in >= 80%, 20-80%, < 20% of their frames.

Inputs are whole sequences: `MOTTable`s (genvision_jax.tracking.mot_io) or arrays [N, >= 6] of
MOTChallenge rows (frame, id, left, top, width, height, ...). Ground-truth rows to ignore (consider
flag 0) must be removed by the caller, as `python -m genvision_jax.tasks.tracking evaluate` does.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from genvision_jax.errors import InputError
from genvision_jax.tracking import boxes as box_ops

HOTA_ALPHAS = np.arange(0.05, 0.99, 0.05)  # 19 thresholds, as TrackEval
_EPS = np.finfo(np.float64).eps
_SUMMED = ("num_frames", "num_objects", "num_predictions", "num_matches", "num_switches", "num_false_positives",
           "num_misses", "num_fragmentations", "num_unique_objects", "mostly_tracked", "partially_tracked",
           "mostly_lost", "idtp", "motp_iou_sum")
_SUMMED_PER_ALPHA = ("hota_tp", "assa_num", "assre_num", "asspr_num", "loca_sum")


def _columns(data: Any, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frame int64 [N], id int64 [N], xyxy float64 [N, 4]) from a MOTTable or rows [N, >= 6]."""
    if hasattr(data, "tlwh"):
        frame, ids, tlwh = data.frame, data.id, data.tlwh
    else:
        rows = np.asarray(data, np.float64)
        if rows.size == 0:
            rows = rows.reshape(0, 6)
        if rows.ndim != 2 or rows.shape[1] < 6:
            raise InputError(f"{name}: need rows [N, >= 6] (frame, id, left, top, w, h, ...), got shape {rows.shape}")
        frame, ids, tlwh = rows[:, 0], rows[:, 1], rows[:, 2:6]
    tlwh = box_ops.check_boxes(tlwh, f"{name} boxes")
    frame, ids = np.asarray(frame, np.int64), np.asarray(ids, np.int64)
    if np.any(tlwh[:, 2:] < 0):
        raise InputError(f"{name}: negative box width or height")
    if np.any(frame < 1):
        # The trackers run over frames 1..N (tracks.consecutive_frames); a frame-0 row would be scored
        # here but never tracked, so both sides reject it.
        raise InputError(f"{name}: frame {int(frame[np.argmax(frame < 1)])}; MOTChallenge frames start at 1")
    key = np.stack([frame, ids], axis=1)
    uniq, counts = np.unique(key, axis=0, return_counts=True)
    if np.any(counts > 1):
        f, i = uniq[np.argmax(counts > 1)]
        raise InputError(f"{name}: id {i} appears more than once in frame {f}")
    return frame, ids, box_ops.tlwh_to_xyxy(tlwh)


def _group_by_frame(frame: np.ndarray) -> dict[int, np.ndarray]:
    """frame -> row indices in file order."""
    order = np.argsort(frame, kind="stable")
    values, starts = np.unique(frame[order], return_index=True)
    return dict(zip(values.tolist(), np.split(order, starts[1:])))


def _motmetrics_lsa(dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-distance matching with NaN = forbidden, solved like py-motmetrics' scipy path
    (forbidden entries raised to 2 r c + 1), so ties resolve identically."""
    valid = np.isfinite(dist)
    if not valid.any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if valid.all():
        costs = dist
    else:
        c = np.abs(dist[valid]).max() + 1
        costs = np.where(valid, dist, 2 * min(dist.shape) * c + 1)
    rows, cols = linear_sum_assignment(costs)
    keep = valid[rows, cols]
    return rows[keep], cols[keep]


def _pair_counts(codes: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Unique pair codes and their counts (or summed weights)."""
    uniq, inverse = np.unique(codes, return_inverse=True)
    return uniq, np.bincount(inverse, weights=weights, minlength=len(uniq))


def evaluate_mot(gt, hyp, iou_threshold: float = 0.5, alphas: Sequence[float] = HOTA_ALPHAS) -> dict[str, Any]:
    """All metrics of one sequence. gt, hyp: `MOTTable` or rows [N, >= 6]; boxes in pixels.

    Returns the metrics (see `summarize`) plus `counts`, the additive statistics that `combine` sums
    over sequences.
    """
    if not 0.0 < iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    alphas = np.asarray(alphas, np.float64)
    g_frame, g_raw_ids, g_box = _columns(gt, "ground truth")
    h_frame, h_raw_ids, h_box = _columns(hyp, "hypotheses")
    _, g_id = np.unique(g_raw_ids, return_inverse=True)
    _, h_id = np.unique(h_raw_ids, return_inverse=True)
    n_gid, n_hid = int(g_id.max(initial=-1)) + 1, int(h_id.max(initial=-1)) + 1
    g_rows, h_rows = _group_by_frame(g_frame), _group_by_frame(h_frame)
    frames = sorted(set(g_rows) | set(h_rows))
    max_dist = 1.0 - iou_threshold
    empty = np.zeros(0, np.int64)

    # IoU of every (object, hypothesis) pair sharing a frame, computed in one vectorized pass.
    blocks, pair_g, pair_h = [], [], []
    for f in frames:
        gi, hi = g_rows.get(f, empty), h_rows.get(f, empty)
        blocks.append((gi, hi))
        pair_g.append(np.repeat(gi, len(hi)))
        pair_h.append(np.tile(hi, len(gi)))
    pair_g = np.concatenate(pair_g) if pair_g else empty
    pair_h = np.concatenate(pair_h) if pair_h else empty
    pair_iou = box_ops.paired_iou(g_box[pair_g], h_box[pair_h])
    pair_ok = (1.0 - pair_iou) <= max_dist  # py-motmetrics' test: distance 1 - IoU within the threshold
    idf1_codes = g_id[pair_g[pair_ok]] * n_hid + h_id[pair_h[pair_ok]]

    # CLEAR state: the last hypothesis matched to each object (-1: never), tracked-span bookkeeping.
    last_match = np.full(n_gid, -1, np.int64)
    col_of_hyp = np.full(max(n_hid, 1), -1, np.int64)
    tracked_count = np.zeros(n_gid, np.int64)
    ever_tracked = np.zeros(n_gid, bool)
    missed_since = np.zeros(n_gid, bool)
    n_match = n_switch = n_frag = 0
    iou_sum = 0.0
    hota_frames = []  # per frame (object ids, hypothesis ids, IoU [n_g, n_h])
    offset = 0
    for gi, hi in blocks:
        gids, hids = g_id[gi], h_id[hi]
        n_g, n_h = len(gi), len(hi)
        iou = pair_iou[offset:offset + n_g * n_h].reshape(n_g, n_h)
        allowed = pair_ok[offset:offset + n_g * n_h].reshape(n_g, n_h)
        offset += n_g * n_h
        hota_frames.append((gids, hids, iou))
        row_used = np.zeros(n_g, bool)
        if n_g and n_h:
            col_used = np.zeros(n_h, bool)
            # 1. Objects keep their previous hypothesis while it overlaps; when two objects last matched
            #    the same hypothesis, the first in file order that overlaps it keeps it.
            col_of_hyp[hids] = np.arange(n_h)
            prev = last_match[gids]
            cols = np.where(prev >= 0, col_of_hyp[np.maximum(prev, 0)], -1)
            col_of_hyp[hids] = -1
            rows = np.nonzero(cols >= 0)[0]
            rows = rows[allowed[rows, cols[rows]]]
            _, first = np.unique(cols[rows], return_index=True)
            rows = rows[np.sort(first)]
            row_used[rows], col_used[cols[rows]] = True, True
            n_match += len(rows)
            iou_sum += float(iou[rows, cols[rows]].sum())
            # 2. Minimum-distance matching of the rest; a changed hypothesis is an identity switch.
            d = np.where(allowed, 1.0 - iou, np.nan)
            d[row_used, :] = np.nan
            d[:, col_used] = np.nan
            rows, cols = _motmetrics_lsa(d)
            g, h = gids[rows], hids[cols]
            switched = (last_match[g] >= 0) & (last_match[g] != h)
            n_switch += int(np.count_nonzero(switched))
            n_match += len(rows) - int(np.count_nonzero(switched))
            last_match[g] = h
            iou_sum += float(iou[rows, cols].sum())
            row_used[rows] = True
        tracked, missed = gids[row_used], gids[~row_used]
        n_frag += int(np.count_nonzero(missed_since[tracked]))
        tracked_count[tracked] += 1
        ever_tracked[tracked] = True
        missed_since[tracked] = False
        missed_since[missed] |= ever_tracked[missed]

    n_objects, n_predictions = len(g_frame), len(h_frame)
    g_count = np.bincount(g_id, minlength=n_gid)
    h_count = np.bincount(h_id, minlength=n_hid)
    ratio = tracked_count / np.maximum(g_count, 1)
    counts: dict[str, Any] = {
        "num_frames": len(frames), "num_objects": n_objects, "num_predictions": n_predictions,
        "num_matches": n_match, "num_switches": n_switch, "num_misses": n_objects - n_match - n_switch,
        "num_false_positives": n_predictions - n_match - n_switch, "num_fragmentations": n_frag,
        "num_unique_objects": n_gid, "mostly_tracked": int(np.sum(ratio >= 0.8)),
        "partially_tracked": int(np.sum((ratio >= 0.2) & (ratio < 0.8))), "mostly_lost": int(np.sum(ratio < 0.2)),
        "idtp": _idtp(idf1_codes, n_hid),
        "motp_iou_sum": float(iou_sum),
    }
    counts.update(_hota_counts(hota_frames, g_count, h_count, alphas))
    counts["alphas"] = alphas.tolist()
    return {**summarize(counts), "counts": counts}


def _idtp(codes: np.ndarray, n_hid: int) -> int:
    """Maximum total overlap frames of a one-to-one object -> hypothesis id mapping.

    Minimising IDFN + IDFP (Ristani et al.'s formulation, and py-motmetrics') is the same as maximising
    IDTP, since IDFN + IDFP = #objects + #hypotheses - 2 IDTP; this solves the smaller problem on the ids
    that overlap at all.
    """
    if len(codes) == 0:
        return 0
    pairs, tp = _pair_counts(codes)
    g, h = pairs // n_hid, pairs % n_hid
    gu, gi = np.unique(g, return_inverse=True)
    hu, hi = np.unique(h, return_inverse=True)
    matrix = np.zeros((len(gu), len(hu)))
    matrix[gi, hi] = tp
    rows, cols = linear_sum_assignment(matrix, maximize=True)
    return int(round(matrix[rows, cols].sum()))


def _hota_counts(frames: list, g_count: np.ndarray, h_count: np.ndarray, alphas: np.ndarray) -> dict[str, list]:
    """Per-alpha HOTA statistics: TP, the AssA/AssRe/AssPr numerators and the summed TP IoU."""
    n_hid = len(h_count)
    # Pass 1: global alignment score of every (object, hypothesis) pair that ever overlaps.
    codes, values = [], []
    for gids, hids, sim in frames:
        if sim.size == 0:
            continue
        denom = sim.sum(0)[None, :] + sim.sum(1)[:, None] - sim
        sim_iou = np.divide(sim, denom, out=np.zeros_like(sim), where=denom > _EPS)
        r, c = np.nonzero(sim_iou)
        codes.append(gids[r] * n_hid + hids[c])
        values.append(sim_iou[r, c])
    if codes:
        pair_codes, potential = _pair_counts(np.concatenate(codes), np.concatenate(values))
        pg, ph = pair_codes // n_hid, pair_codes % n_hid
        alignment = potential / (g_count[pg] + h_count[ph] - potential)
    else:
        pair_codes, alignment = np.zeros(0, np.int64), np.zeros(0)

    # Pass 2: per-frame matching on alignment-weighted IoU; keep the matched pairs and their IoU.
    matched_codes, matched_sim = [], []
    for gids, hids, sim in frames:
        if sim.size == 0:
            continue
        frame_codes = gids[:, None] * n_hid + hids[None, :]
        pos = np.clip(np.searchsorted(pair_codes, frame_codes), 0, max(len(pair_codes) - 1, 0))
        known = pair_codes[pos] == frame_codes if len(pair_codes) else np.zeros(sim.shape, bool)
        score = np.where(known, alignment[pos] if len(pair_codes) else 0.0, 0.0) * sim
        rows, cols = linear_sum_assignment(-score)
        matched_codes.append(frame_codes[rows, cols])
        matched_sim.append(sim[rows, cols])
    m_codes = np.concatenate(matched_codes) if matched_codes else np.zeros(0, np.int64)
    m_sim = np.concatenate(matched_sim) if matched_sim else np.zeros(0)

    out = {k: [] for k in _SUMMED_PER_ALPHA}
    for alpha in alphas:
        ok = m_sim >= alpha - _EPS
        tp = int(np.count_nonzero(ok))
        out["hota_tp"].append(tp)
        out["loca_sum"].append(float(m_sim[ok].sum()))
        if tp == 0:
            for k in ("assa_num", "assre_num", "asspr_num"):
                out[k].append(0.0)
            continue
        pairs, mc = _pair_counts(m_codes[ok])
        gc, hc = g_count[pairs // n_hid], h_count[pairs % n_hid]
        out["assa_num"].append(float(np.sum(mc * mc / np.maximum(1, gc + hc - mc))))
        out["assre_num"].append(float(np.sum(mc * mc / np.maximum(1, gc))))
        out["asspr_num"].append(float(np.sum(mc * mc / np.maximum(1, hc))))
    return out


def _divide(a, b) -> float:
    """a / b with IEEE semantics (x/0 = inf, 0/0 = nan), as py-motmetrics reports undefined ratios."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(a) / np.float64(b))


def summarize(counts: dict[str, Any]) -> dict[str, Any]:
    """Metrics from additive counts (one sequence's, or `combine`d over many)."""
    c = counts
    det = c["num_matches"] + c["num_switches"]
    idtp = c["idtp"]
    out: dict[str, Any] = {
        "mota": 1.0 - _divide(c["num_misses"] + c["num_switches"] + c["num_false_positives"], c["num_objects"]),
        "motp": _divide(c["motp_iou_sum"], det),
        "idf1": _divide(2 * idtp, c["num_objects"] + c["num_predictions"]),
        "idp": _divide(idtp, c["num_predictions"]),
        "idr": _divide(idtp, c["num_objects"]),
        "idtp": idtp, "idfp": c["num_predictions"] - idtp, "idfn": c["num_objects"] - idtp,
        "precision": _divide(det, det + c["num_false_positives"]),
        "recall": _divide(det, c["num_objects"]),
        "num_detections": det,
    }
    for k in _SUMMED:
        if k not in ("idtp", "motp_iou_sum"):
            out[k] = c[k]
    tp = np.asarray(c["hota_tp"], np.float64)
    fn = c["num_objects"] - tp
    fp = c["num_predictions"] - tp
    det_a = tp / np.maximum(1.0, tp + fn + fp)
    ass_a = np.asarray(c["assa_num"]) / np.maximum(1.0, tp)
    per_alpha = {
        "hota": np.sqrt(det_a * ass_a), "deta": det_a, "assa": ass_a,
        "detre": tp / np.maximum(1.0, tp + fn), "detpr": tp / np.maximum(1.0, tp + fp),
        "assre": np.asarray(c["assre_num"]) / np.maximum(1.0, tp),
        "asspr": np.asarray(c["asspr_num"]) / np.maximum(1.0, tp),
        "loca": np.maximum(1e-10, np.asarray(c["loca_sum"])) / np.maximum(1e-10, tp),
    }
    for k, v in per_alpha.items():
        out[k] = float(np.mean(v))
    out["hota0"], out["loca0"] = float(per_alpha["hota"][0]), float(per_alpha["loca"][0])
    out["hota_per_alpha"] = {"alpha": list(c["alphas"]), **{k: v.tolist() for k, v in per_alpha.items()}}
    return out


def combine(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Metrics over several sequences from their `evaluate_mot` results (counts summed, as TrackEval
    and py-motmetrics' overall rows do)."""
    if not results:
        raise ValueError("combine needs at least one result")
    alphas = results[0]["counts"]["alphas"]
    if any(r["counts"]["alphas"] != alphas for r in results):
        raise ValueError("combine: results were computed with different HOTA alphas")
    counts: dict[str, Any] = {k: sum(r["counts"][k] for r in results) for k in _SUMMED}
    for k in _SUMMED_PER_ALPHA:
        counts[k] = np.sum([r["counts"][k] for r in results], axis=0).tolist()
    counts["alphas"] = alphas
    return {**summarize(counts), "counts": counts}


# Names and formats for printed tables (python -m genvision_jax.tasks.tracking evaluate).
DISPLAY = (
    ("HOTA", "hota", "pct"), ("DetA", "deta", "pct"), ("AssA", "assa", "pct"), ("LocA", "loca", "pct"),
    ("MOTA", "mota", "pct"), ("MOTP", "motp", "pct"), ("IDF1", "idf1", "pct"), ("IDP", "idp", "pct"),
    ("IDR", "idr", "pct"), ("Rcll", "recall", "pct"), ("Prcn", "precision", "pct"),
    ("FP", "num_false_positives", "int"), ("FN", "num_misses", "int"), ("IDSW", "num_switches", "int"),
    ("Frag", "num_fragmentations", "int"), ("GT", "num_unique_objects", "int"), ("MT", "mostly_tracked", "int"),
    ("PT", "partially_tracked", "int"), ("ML", "mostly_lost", "int"),
)
