"""Run a tracker over a MOTChallenge detection file and write the results file.

    python -m genvision_jax.tasks.tracking run --tracker sort|deepsort|bytetrack --detections DET_FILE \\
        [--frames IMG_DIR --reid_weights REID.msgpack] --out RESULT_FILE [--param key=value ...]

DeepSORT needs an appearance feature per detection: either feature columns in the detection file
(after the tenth column, as DeepSORT's precomputed detections) or the sequence images (`--frames`, the
img1 folder) and ReID weights written by `genvision_jax.models.recognizers.reid.save_reid`
(`--param appearance="none"` runs it without ReID). Tracker parameters are set with `--param`, values
parsed as JSON (e.g. `--param max_age=30 --param matching='"greedy"'`, or unquoted strings).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from genvision_jax.cli import ArgumentParser, exits_on_user_error
from genvision_jax.errors import ConfigError, InputError, MissingInputError, WorkdirError
from genvision_jax.tracking import TRACKERS, limit_blas_threads, make_tracker, track_sequence
from genvision_jax.tracking.mot_io import MOTTable, frame_image_path, read_mot, read_seqinfo, write_mot


def parse_params(items: list[str]) -> dict:
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--param expects key=value, got {item!r}")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return params


def image_features(detections: MOTTable, frames_dir: str, reid_weights: str, num_frames: int) -> np.ndarray:
    """ReID embeddings [N, D] of every detection, cropped from the sequence images."""
    from genvision_jax.data.nerf_folders import read_image  # pylint: disable=g-import-not-at-top
    from genvision_jax.models.recognizers.reid import load_reid  # pylint: disable=g-import-not-at-top

    embedder, _ = load_reid(reid_weights)
    features = np.zeros((len(detections), embedder.dim), np.float32)
    xyxy = detections.xyxy
    for frame, _, _ in detections.frames(1, num_frames):
        idx = np.nonzero(detections.frame == frame)[0]
        if len(idx):
            image = np.asarray(read_image(str(frame_image_path(frames_dir, frame)), "RGB"))
            features[idx] = embedder.embed(image, xyxy[idx])
    return features


@exits_on_user_error
def main(argv=None) -> int:
    parser = ArgumentParser(prog="python -m genvision_jax.tasks.tracking run", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracker", required=True, choices=sorted(TRACKERS))
    parser.add_argument("--detections", required=True, help="det.txt (MOTChallenge) or .npy with the same columns")
    parser.add_argument("--out", required=True, help="results file to write")
    parser.add_argument("--frames", help="folder of frame images (img1) for ReID features")
    parser.add_argument("--reid_weights", help="ReID weights (.msgpack with its .json) for --frames")
    parser.add_argument("--num_frames", type=int, help="sequence length (default: seqinfo.ini next to --frames, "
                        "else the last frame with detections)")
    parser.add_argument("--param", action="append", default=[], help="tracker parameter key=value (repeatable)")
    args = parser.parse_args(argv)
    limit_blas_threads()
    params = parse_params(args.param)
    out_dir = Path(args.out).absolute().parent
    if not out_dir.is_dir() or not os.access(out_dir, os.W_OK):
        raise WorkdirError(f"--out {args.out}: {out_dir} is not a writable directory")
    detections = read_mot(args.detections)
    num_frames = args.num_frames
    if num_frames is not None and num_frames < 1:
        raise ConfigError(f"--num_frames={num_frames}: a sequence has at least one frame")
    if num_frames is None and args.frames and (Path(args.frames).parent / "seqinfo.ini").is_file():
        num_frames = read_seqinfo(Path(args.frames).parent)["seqLength"]
    if num_frames is None:
        num_frames = int(detections.frame.max()) if len(detections) else 0
    if len(detections) and int(detections.frame.max()) > num_frames:
        raise InputError(f"{args.detections} has detections in frame {int(detections.frame.max())}, after the "
                         f"sequence's last frame {num_frames}")
    if args.tracker == "deepsort" and params.get("appearance", "gallery") != "none":
        if detections.features is None:
            if not (args.frames and args.reid_weights):
                raise ConfigError("deepsort needs appearance features: give --frames IMG_DIR and --reid_weights "
                                  "FILE, or a detection file with feature columns (or --param appearance=none)")
            if not Path(args.frames).is_dir():
                raise MissingInputError(f"--frames {args.frames} is not a folder of frame images")
            detections.features = image_features(detections, args.frames, args.reid_weights, num_frames)
        params.setdefault("feature_dim", detections.features.shape[1])
    elif detections.features is not None:
        detections.features = None  # only DeepSORT uses appearance
    try:
        tracker = make_tracker(args.tracker, **params)
    except (ValueError, TypeError) as e:  # a parameter value the tracker rejects
        raise ConfigError(f"--param: {e}") from None
    start = time.perf_counter()
    rows = track_sequence(tracker, detections.frames(1, num_frames))
    elapsed = time.perf_counter() - start
    write_mot(args.out, MOTTable.from_rows(rows), kind="result")
    ids = len(np.unique(rows[:, 1])) if len(rows) else 0
    print(f"{args.tracker}: {num_frames} frames, {len(detections)} detections -> {len(rows)} boxes in {ids} tracks; "
          f"{num_frames / max(elapsed, 1e-9):.0f} frames/s (tracker only); wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
