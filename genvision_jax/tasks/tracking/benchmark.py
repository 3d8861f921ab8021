"""The tracking benchmark: ReID crops of the synthetic MOT scenes, the ReID evaluation (cross-camera
retrieval and tracklet association) and SORT / DeepSORT / ByteTrack variants on the benchmark levels.

Every tracker variant sees the same detections and the same ReID embeddings; metrics come from
genvision_jax.metrics.mot (parity-tested against py-motmetrics), summed over the sequences of a level.
The ReID trainer (`genvision_jax.tasks.reid`) calls these as its data and evaluation.
"""

from __future__ import annotations

import dataclasses
import time
import zlib
from typing import Any

import ml_collections
import numpy as np

from genvision_jax.data import mot_synthetic as synth
from genvision_jax.errors import ConfigError
from genvision_jax.metrics import mot as mot_metrics
from genvision_jax.metrics.retrieval import retrieval_metrics
from genvision_jax.models.recognizers.reid import ReIDEmbedder
from genvision_jax.tracking import boxes as box_ops
from genvision_jax.tracking import make_tracker, multicamera, track_sequence
from genvision_jax.train.writers import progress

TABLE_COLUMNS = (("MOTA", "mota", "pct"), ("IDF1", "idf1", "pct"), ("HOTA", "hota", "pct"),
                 ("IDSW", "num_switches", "int"), ("FP", "num_false_positives", "int"),
                 ("FN", "num_misses", "int"), ("Frag", "num_fragmentations", "int"))


# ------------------------------------------------------------------------------------------------
# ReID data and evaluation
# ------------------------------------------------------------------------------------------------


def identity_crops(seq: synth.SyntheticSequence, frame_step: int, min_visibility: float, jitter: float,
                   crop_hw: tuple[int, int], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Crops uint8 [N, h, w, 3] of ground-truth boxes (visibility >= min_visibility, every frame_step-th
    frame, centre and size jittered by N(0, jitter) x size like detections) and their gt ids [N]."""
    crops, ids = [], []
    for frame in range(1, seq.num_frames + 1, frame_step):
        idx = np.nonzero((seq.gt.frame == frame) & (seq.gt.vis >= min_visibility))[0]
        if len(idx) == 0:
            continue
        tlwh = seq.gt.tlwh[idx].copy()
        noise = rng.normal(0.0, jitter, (len(idx), 4)) * np.tile(tlwh[:, 2:], 2)
        centre, size = tlwh[:, :2] + tlwh[:, 2:] / 2 + noise[:, :2], np.maximum(tlwh[:, 2:] + noise[:, 2:], 2.0)
        xyxy = np.column_stack([centre - size / 2, centre + size / 2])
        crops.append(np.round(box_ops.crop_resize(seq.render(frame), xyxy, crop_hw)).astype(np.uint8))
        ids.append(seq.gt.id[idx])
    if not crops:
        return np.zeros((0, *crop_hw, 3), np.uint8), np.zeros(0, np.int64)
    return np.concatenate(crops), np.concatenate(ids)


def scene_config(config: ml_collections.ConfigDict, level: str, num_frames: int) -> synth.SceneConfig:
    b = config.benchmark
    return synth.level_config(level, b.width, b.height, num_frames=num_frames)


def reid_training_set(config: ml_collections.ConfigDict) -> tuple[np.ndarray, np.ndarray]:
    """Crops and labels from `reid.train_pairs` two-camera scenes (levels in turn); an identity keeps its
    label in both cameras, so training sees each person under two colour responses."""
    r = config.reid
    crops, labels = [], []
    levels = list(synth.LEVELS)
    for i in range(r.train_pairs):
        cfg = scene_config(config, levels[i % len(levels)], r.train_frames)
        rng = np.random.default_rng([config.seed, 1, i])
        for cam in synth.make_camera_pair(cfg, seed=_seed(config, "reid_train", i)):
            c, ids = identity_crops(cam, r.frame_step, r.min_visibility, r.box_jitter, tuple(r.train.crop_hw), rng)
            crops.append(c)
            labels.append(i * 100_000 + ids)
    return np.concatenate(crops), np.concatenate(labels)


def evaluate_reid(config: ml_collections.ConfigDict, embedder: ReIDEmbedder) -> dict[str, Any]:
    """On held-out two-camera scenes: cross-camera retrieval (camera 1 queries, camera 2 gallery) and
    one-to-one association of ground-truth tracklets between the cameras."""
    r = config.reid
    per_pair = []
    for i in range(r.eval_pairs):
        cfg = scene_config(config, "medium", r.train_frames)
        rng = np.random.default_rng([config.seed, 2, i])
        cams = synth.make_camera_pair(cfg, seed=_seed(config, "reid_eval", i))
        crops = [identity_crops(c, r.frame_step, r.min_visibility, 0.0, embedder.crop_hw, rng) for c in cams]
        emb = [embedder.embed_crops(c) for c, _ in crops]
        retrieval = retrieval_metrics(emb[0], crops[0][1], emb[1], crops[1][1])
        (ids_a, mean_a), (ids_b, mean_b) = (multicamera.tracklet_embeddings(crops[k][1], emb[k]) for k in range(2))
        matches = multicamera.associate_tracklets(mean_a, mean_b, r.association_max_distance)
        per_pair.append({**retrieval, **{f"association_{k}": v for k, v in
                                         multicamera.association_accuracy(ids_a, ids_b, matches).items()}})
    out = {k: float(np.nanmean([p[k] for p in per_pair])) for k in per_pair[0]}
    out["pairs"] = per_pair
    return out


# ------------------------------------------------------------------------------------------------
# Tracking benchmark
# ------------------------------------------------------------------------------------------------


def detection_features(seq: synth.SyntheticSequence, embedder: ReIDEmbedder) -> tuple[np.ndarray, float]:
    """ReID embeddings [N, D] of all detections and the seconds spent cropping and embedding (rendering
    the frames is not counted: a real pipeline has the images)."""
    det = seq.detections
    features = np.zeros((len(det), embedder.dim), np.float32)
    xyxy, seconds = det.xyxy, 0.0
    for frame in range(1, seq.num_frames + 1):
        idx = np.nonzero(det.frame == frame)[0]
        if len(idx) == 0:
            continue
        image = seq.render(frame)
        t0 = time.perf_counter()
        features[idx] = embedder.embed(image, xyxy[idx])
        seconds += time.perf_counter() - t0
    return features, seconds


def uses_reid(spec) -> bool:
    return spec.tracker == "deepsort" and spec.params.get("appearance", "gallery") != "none"


def tracker_params(spec, feature_dim: int) -> dict:
    """The variant's parameters, plus the embedding size for a DeepSORT that uses ReID."""
    params = dict(spec.params)
    if uses_reid(spec):
        params["feature_dim"] = feature_dim
    return params


def low_score_recovery(seq: synth.SyntheticSequence, rows: np.ndarray, score_range: tuple[float, float],
                       iou_threshold: float = 0.5) -> tuple[int, int]:
    """(recovered, total) true low-score detections: detections of a real object with score in
    (low, high] whose object is covered (IoU >= iou_threshold) by a reported track box in that frame."""
    det = seq.detections
    low, high = score_range
    pick = np.nonzero((seq.det_gt_id >= 0) & (det.conf > low) & (det.conf <= high))[0]
    recovered = 0
    gt_key = {(int(f), int(i)): k for k, (f, i) in enumerate(zip(seq.gt.frame, seq.gt.id))}
    out_frames = rows[:, 0].astype(np.int64)
    for frame in np.unique(det.frame[pick]):
        these = pick[det.frame[pick] == frame]
        gt_boxes = seq.gt.xyxy[[gt_key[(int(frame), int(g))] for g in seq.det_gt_id[these]]]
        out = rows[out_frames == frame]
        if len(out) == 0:
            continue
        iou = box_ops.iou_matrix(gt_boxes, box_ops.tlwh_to_xyxy(out[:, 2:6]))
        recovered += int(np.count_nonzero(iou.max(axis=1) >= iou_threshold))
    return recovered, len(pick)


def benchmark(config: ml_collections.ConfigDict, embedder: ReIDEmbedder, log=print
              ) -> tuple[dict, list[dict], synth.SyntheticSequence | None]:
    """Runs every tracker variant on every sequence. Returns (summary[level][variant], per-sequence rows,
    the last sequence of the hardest level for the figure)."""
    b = config.benchmark
    embedder.embed_crops(np.zeros((16, *embedder.crop_hw, 3), np.uint8))  # compile before timing
    per_level: dict[str, dict[str, dict]] = {}
    rows_out, last = [], None
    for li, level in enumerate(progress(b.levels, desc="tracking benchmark levels")):
        acc = {name: {"results": [], "seconds": 0.0, "frames": 0, "recovered": 0, "low_total": 0}
               for name in config.trackers}
        reid_seconds = 0.0
        for s in range(b.sequences_per_level):
            seq = synth.make_sequence(scene_config(config, level, b.num_frames), seed=_seed(config, level, s),
                                      name=f"{level}-{s}")
            features, emb_s = detection_features(seq, embedder)
            reid_seconds += emb_s
            frames = list(dataclasses.replace(seq.detections, features=features).frames(1, seq.num_frames))
            for name, spec in config.trackers.items():
                seconds = np.inf
                for _ in range(b.timing_repeats):  # a fresh tracker each time; keep the least disturbed time
                    tracker = make_tracker(spec.tracker, **tracker_params(spec, embedder.dim))
                    t0 = time.perf_counter()
                    out = track_sequence(tracker, frames)
                    seconds = min(seconds, time.perf_counter() - t0)
                result = mot_metrics.evaluate_mot(seq.gt, out, b.iou_threshold)
                rec, tot = low_score_recovery(seq, out, tuple(b.low_score_range), b.iou_threshold)
                a = acc[name]
                a["results"].append(result)
                a["seconds"] += seconds
                a["frames"] += seq.num_frames
                a["recovered"] += rec
                a["low_total"] += tot
                rows_out.append({"level": level, "sequence": s, "variant": name, "fps": seq.num_frames / seconds,
                                 "low_score_recovered": rec, "low_score_total": tot,
                                 **{k: v for k, v in result.items() if k not in ("counts", "hota_per_alpha")}})
            if li == len(b.levels) - 1:
                last = seq
        per_level[level] = {}
        for name, a in acc.items():
            combined = mot_metrics.combine(a["results"])
            entry = {k: v for k, v in combined.items() if k not in ("counts", "hota_per_alpha")}
            entry["fps"] = a["frames"] / a["seconds"]
            if uses_reid(config.trackers[name]):
                entry["fps_with_reid"] = a["frames"] / (a["seconds"] + reid_seconds)
            entry["low_score_recovered"] = a["recovered"]
            entry["low_score_total"] = a["low_total"]
            entry["low_score_recovery"] = a["recovered"] / max(a["low_total"], 1)
            per_level[level][name] = entry
        log(f"level {level}: " + ", ".join(f"{n} MOTA {100 * e['mota']:.1f} IDF1 {100 * e['idf1']:.1f} "
                                          f"IDSW {e['num_switches']}" for n, e in per_level[level].items()))
    return per_level, rows_out, last


def check_claims(summary: dict, levels) -> dict[str, Any]:
    """The two claims of the issue, evaluated on the measured numbers."""
    hardest = levels[-1]
    s = summary[hardest]
    claims = {"hardest_level": hardest}
    if "sort" in s and "deepsort" in s:
        claims["deepsort_fewer_id_switches_than_sort"] = bool(s["deepsort"]["num_switches"] < s["sort"]["num_switches"])
        claims["id_switches_sort_deepsort"] = [s["sort"]["num_switches"], s["deepsort"]["num_switches"]]
    if "sort" in s and "bytetrack" in s:
        claims["bytetrack_recovers_more_low_score_than_sort"] = bool(
            s["bytetrack"]["low_score_recovered"] > s["sort"]["low_score_recovered"])
        claims["low_score_recovered_sort_bytetrack"] = [s["sort"]["low_score_recovered"],
                                                        s["bytetrack"]["low_score_recovered"]]
    return claims


def markdown_table(summary: dict) -> str:
    """One markdown table: a row per (level, variant)."""
    head = ["level", "tracker"] + [c for c, _, _ in TABLE_COLUMNS] + ["low-score rec.", "FPS", "FPS w/ ReID"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for level, variants in summary.items():
        for name, e in variants.items():
            cells = [level, name]
            for _, key, kind in TABLE_COLUMNS:
                cells.append(f"{100 * e[key]:.1f}" if kind == "pct" else str(int(e[key])))
            cells.append(f"{e['low_score_recovered']}/{e['low_score_total']}")
            cells.append(f"{e['fps']:.0f}")
            cells.append(f"{e['fps_with_reid']:.0f}" if "fps_with_reid" in e else "")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _seed(config, stream: str, index: int) -> int:
    """Disjoint seeds per purpose, so test scenes never reuse training identities."""
    return (zlib.crc32(stream.encode()) % 100_000) * 1_000 + index + 100_000_000 * int(config.seed)


def draw_tracks(image: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The frame with each reported box outlined in a colour derived from its track id."""
    from PIL import Image, ImageDraw  # pylint: disable=g-import-not-at-top

    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    for _, tid, x, y, w, h, _ in rows:
        colour = tuple(int(c) for c in np.random.default_rng(int(tid)).integers(0, 256, 3))
        draw.rectangle([x, y, x + w, y + h], outline=colour, width=2)
    return np.asarray(canvas)


def check_levels(config: ml_collections.ConfigDict) -> None:
    unknown = sorted(set(config.benchmark.levels) - set(synth.LEVELS))
    if unknown:
        raise ConfigError(f"benchmark.levels: unknown level(s) {unknown}; choose from {sorted(synth.LEVELS)}")
