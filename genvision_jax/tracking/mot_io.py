"""MOTChallenge files: gt.txt, det.txt, tracker results, seqinfo.ini and the sequence folder layout.

One box per line, comma (or whitespace) separated, 1-based frames, pixel boxes as left, top, width, height:
  gt.txt       frame, id, left, top, w, h, consider (1 = evaluate, 0 = ignore), class, visibility
  det.txt      frame, -1, left, top, w, h, score, -1, -1, -1 [, appearance feature ...]
  results      frame, id, left, top, w, h, score, -1, -1, -1
Columns after the tenth of a detection file are read as an appearance feature (the layout of
DeepSORT's precomputed detections); `.npy` files with the same columns are read too.
Sequence folder (MOT17/MOT20 layout): seqinfo.ini, img1/000001.<ext>, gt/gt.txt, det/det.txt.
"""

from __future__ import annotations

import configparser
import dataclasses
import io
import os
from pathlib import Path

import numpy as np

from genvision_jax.errors import InputError, MissingInputError
from genvision_jax.tracking import boxes as box_ops
from genvision_jax.tracking.tracks import consecutive_frames

KINDS = ("gt", "det", "result")


@dataclasses.dataclass
class MOTTable:
    """Rows of a MOTChallenge file.

    frame, id int64 [N]; tlwh float64 [N, 4] pixels; conf float64 [N] (score, or the gt consider flag);
    cls, vis float64 [N] (gt class and visibility, -1 when absent); features float32 [N, D] or None.
    """

    frame: np.ndarray
    id: np.ndarray
    tlwh: np.ndarray
    conf: np.ndarray
    cls: np.ndarray
    vis: np.ndarray
    features: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def xyxy(self) -> np.ndarray:
        return box_ops.tlwh_to_xyxy(self.tlwh)

    def select(self, mask: np.ndarray) -> "MOTTable":
        return MOTTable(self.frame[mask], self.id[mask], self.tlwh[mask], self.conf[mask], self.cls[mask],
                        self.vis[mask], None if self.features is None else self.features[mask])

    @classmethod
    def from_columns(cls, frame, ids, tlwh, conf=None, classes=None, vis=None, features=None) -> "MOTTable":
        """Builds a table from arrays, checking shapes; absent conf is 1, absent class/visibility -1."""
        frame = np.asarray(frame, np.int64).reshape(-1)
        n = len(frame)
        tlwh = box_ops.check_boxes(tlwh, "tlwh")
        ids = np.asarray(ids, np.int64).reshape(-1)
        if len(tlwh) != n or len(ids) != n:
            raise ValueError(f"frame, ids and tlwh need the same number of rows, got {n}, {len(ids)}, {len(tlwh)}")

        def column(values, default):
            out = np.full(n, default, np.float64) if values is None else np.asarray(values, np.float64).reshape(-1)
            if len(out) != n:
                raise ValueError(f"a column has {len(out)} rows, expected {n}")
            return out

        if features is not None:
            features = np.asarray(features, np.float32)
            if features.ndim != 2 or len(features) != n:
                raise ValueError(f"features must have shape [{n}, D], got {features.shape}")
        return cls(frame, ids, tlwh, column(conf, 1.0), column(classes, -1.0), column(vis, -1.0), features)

    @classmethod
    def from_rows(cls, rows: np.ndarray) -> "MOTTable":
        """From tracker output rows [N, 7] (frame, id, left, top, w, h, score) (`tracks.track_sequence`)."""
        rows = np.asarray(rows, np.float64).reshape(-1, 7)
        return cls.from_columns(rows[:, 0], rows[:, 1], rows[:, 2:6], rows[:, 6])

    def frames(self, first: int | None = None, last: int | None = None):
        """Yields (frame, detections xyxy+score float64 [N, 5], features [N, D] or None) for every frame
        first..last (default: 1..the last frame in the table), empty frames included."""
        first = 1 if first is None else first
        last = (int(self.frame.max()) if len(self) else 0) if last is None else last
        xyxy = self.xyxy
        for frame, idx in consecutive_frames(self.frame, first, last):
            dets = np.column_stack([xyxy[idx], self.conf[idx]])
            yield frame, dets, None if self.features is None else self.features[idx]


def read_mot(path: str | os.PathLike) -> MOTTable:
    """Reads a MOTChallenge text file (or `.npy` array with the same columns) into a `MOTTable`.

    Raises MissingInputError for a missing file and InputError naming the file for anything
    unparsable (fewer than 6 columns, non-integer frame or id, frames below 1, negative sizes, NaN).
    Frames start at 1 (MOTChallenge): the trackers, the writers and the evaluator all use 1-based
    frames, so a 0-based file would shift every comparison by one frame.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"MOT file not found: {path}")
    if path.suffix == ".npy":
        try:
            data = np.asarray(np.load(path, allow_pickle=False), np.float64)
        except (OSError, ValueError, TypeError) as e:
            raise InputError(f"{path}: not a numeric .npy array ({type(e).__name__}: {e})") from None
        if data.ndim != 2:
            raise InputError(f"{path}: expected a [N, >= 6] array, got shape {data.shape}")
    else:
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            raise InputError(f"{path}: not a text file (MOTChallenge files are comma-separated text)") from None
        delimiter = "," if "," in text else None
        lines = [line.rstrip().rstrip(",") for line in text.splitlines() if line.strip()]
        if not lines:
            data = np.zeros((0, 10))
        else:
            try:
                data = np.loadtxt(io.StringIO("\n".join(lines)), delimiter=delimiter, ndmin=2, dtype=np.float64)
            except ValueError as e:
                raise InputError(f"{path}: not a MOTChallenge file ({e})") from None
    if data.shape[1] < 6:
        raise InputError(f"{path}: MOTChallenge rows need at least 6 columns (frame, id, left, top, w, h), "
                         f"got {data.shape[1]}")
    if not np.all(np.isfinite(data[:, :7 if data.shape[1] > 6 else 6])):
        bad = int(np.nonzero(~np.all(np.isfinite(data[:, :7 if data.shape[1] > 6 else 6]), axis=1))[0][0])
        raise InputError(f"{path}: NaN or Inf in the frame, id, box or score columns of data row {bad + 1}")
    frame, ids = data[:, 0], data[:, 1]
    if np.any(frame != np.round(frame)) or np.any(ids != np.round(ids)):
        raise InputError(f"{path}: frame and id columns must be integers")
    if np.any(frame < 1):
        bad = int(np.nonzero(frame < 1)[0][0])
        raise InputError(f"{path}: frame {int(frame[bad])} on data row {bad + 1}; MOTChallenge frames start at 1")
    if np.any(data[:, 4:6] < 0):
        bad = int(np.nonzero(np.any(data[:, 4:6] < 0, axis=1))[0][0])
        raise InputError(f"{path}: negative box width or height on data row {bad + 1}")

    def col(i, default):
        return data[:, i] if data.shape[1] > i else np.full(len(data), default)

    features = data[:, 10:].astype(np.float32) if data.shape[1] > 10 else None
    return MOTTable.from_columns(frame, ids, data[:, 2:6], col(6, 1.0), col(7, -1.0), col(8, -1.0), features)


def write_mot(path: str | os.PathLike, table: MOTTable, kind: str = "result") -> Path:
    """Writes `table` as MOTChallenge text: kind "gt" (9 columns: ..., consider, class, visibility),
    "det" (10 columns, plus feature columns if the table has features) or "result" (10 columns)."""
    if kind not in KINDS:
        raise ValueError(f"unknown MOT file kind {kind!r}; choose one of {KINDS}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ids = np.full(len(table), -1) if kind == "det" else table.id
    cols = [table.frame, ids, table.tlwh, table.conf]
    if kind == "gt":
        cols += [table.cls, table.vis]
    else:
        cols.append(np.full((len(table), 3), -1.0))
        if kind == "det" and table.features is not None:
            cols.append(table.features)
    data = np.column_stack([np.asarray(c, np.float64).reshape(len(table), -1) for c in cols]) if len(table) else None
    with open(path, "w") as f:
        if data is not None:
            fmt = ["%d", "%d"] + ["%.10g"] * (data.shape[1] - 2)
            np.savetxt(f, data, fmt=fmt, delimiter=",")
    return path


# ------------------------------------------------------------------------------------------------
# Sequence folders
# ------------------------------------------------------------------------------------------------


def read_seqinfo(seq_dir: str | os.PathLike) -> dict:
    """seqinfo.ini -> {'name', 'imDir', 'frameRate', 'seqLength', 'imWidth', 'imHeight', 'imExt'}."""
    path = Path(seq_dir) / "seqinfo.ini"
    if not path.is_file():
        raise MissingInputError(f"no seqinfo.ini in {seq_dir}")
    parser = configparser.ConfigParser()
    parser.optionxform = str  # keys are camelCase
    try:
        parser.read(path)
    except (configparser.Error, UnicodeDecodeError) as e:
        raise InputError(f"{path} is not an ini file ({type(e).__name__}: {e})") from None
    if "Sequence" not in parser:
        raise InputError(f"{path}: missing [Sequence] section")
    info = dict(parser["Sequence"])
    for key in ("frameRate", "seqLength", "imWidth", "imHeight"):
        if key in info:
            try:
                info[key] = int(float(info[key]))
            except ValueError:
                raise InputError(f"{path}: {key}={info[key]!r} is not a number") from None
    if info.get("seqLength", 1) < 1:
        raise InputError(f"{path}: seqLength={info['seqLength']}; a sequence has at least one frame")
    return info


def write_seqinfo(seq_dir: str | os.PathLike, name: str, length: int, width: int, height: int,
                  frame_rate: float = 30, im_dir: str = "img1", im_ext: str = ".png") -> Path:
    path = Path(seq_dir) / "seqinfo.ini"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"[Sequence]\nname={name}\nimDir={im_dir}\nframeRate={frame_rate:g}\nseqLength={length}\n"
                    f"imWidth={width}\nimHeight={height}\nimExt={im_ext}\n")
    return path


def frame_image_path(frames_dir: str | os.PathLike, frame: int, ext: str | None = None) -> Path:
    """The image of `frame` in a MOTChallenge img1 folder (000001.jpg / .png); raises FileNotFoundError."""
    frames_dir = Path(frames_dir)
    candidates = [ext] if ext else [".jpg", ".png", ".jpeg"]
    for e in candidates:
        p = frames_dir / f"{frame:06d}{e}"
        if p.is_file():
            return p
    raise FileNotFoundError(f"no image for frame {frame} in {frames_dir} (looked for {frame:06d}{{{','.join(candidates)}}})")
