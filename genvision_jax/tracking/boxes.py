"""Box formats and pairwise overlaps (numpy, float64).

Formats, one box per row:
  xyxy  (x1, y1, x2, y2)        corners, pixels; what the trackers take and return.
  tlwh  (left, top, w, h)       MOTChallenge files.
  xyah  (cx, cy, w / h, h)      DeepSORT / ByteTrack Kalman measurement (Wojke et al. 2017).
  xysr  (cx, cy, w * h, w / h)  SORT Kalman measurement (Bewley et al. 2016).
"""

from __future__ import annotations

import numpy as np


def check_boxes(boxes, name: str = "boxes", width: int = 4) -> np.ndarray:
    """float64 [N, width] copy-free view of `boxes`; raises ValueError naming `name` on bad shape or NaN/Inf."""
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.size == 0:
        return arr.reshape(0, width)
    if arr.ndim != 2 or arr.shape[1] != width:
        raise ValueError(f"{name} must have shape [N, {width}], got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or Inf")
    return arr


def tlwh_to_xyxy(tlwh: np.ndarray) -> np.ndarray:
    tlwh = np.asarray(tlwh, np.float64)
    return np.concatenate([tlwh[..., :2], tlwh[..., :2] + tlwh[..., 2:4]], axis=-1)


def xyxy_to_tlwh(xyxy: np.ndarray) -> np.ndarray:
    xyxy = np.asarray(xyxy, np.float64)
    return np.concatenate([xyxy[..., :2], xyxy[..., 2:4] - xyxy[..., :2]], axis=-1)


def _columns_out(like: np.ndarray) -> np.ndarray:
    return np.empty(like.shape[:-1] + (4,), np.float64)


def xyxy_to_xyah(xyxy: np.ndarray) -> np.ndarray:
    xyxy = np.asarray(xyxy, np.float64)
    out = _columns_out(xyxy)
    w, h = xyxy[..., 2] - xyxy[..., 0], xyxy[..., 3] - xyxy[..., 1]
    out[..., 0], out[..., 1] = xyxy[..., 0] + w / 2, xyxy[..., 1] + h / 2
    out[..., 2], out[..., 3] = w / h, h
    return out


def xyah_to_xyxy(xyah: np.ndarray) -> np.ndarray:
    xyah = np.asarray(xyah, np.float64)
    out = _columns_out(xyah)
    h = xyah[..., 3]
    w = xyah[..., 2] * h
    out[..., 0], out[..., 1] = xyah[..., 0] - w / 2, xyah[..., 1] - h / 2
    out[..., 2], out[..., 3] = xyah[..., 0] + w / 2, xyah[..., 1] + h / 2
    return out


def xyxy_to_xysr(xyxy: np.ndarray) -> np.ndarray:
    xyxy = np.asarray(xyxy, np.float64)
    out = _columns_out(xyxy)
    w, h = xyxy[..., 2] - xyxy[..., 0], xyxy[..., 3] - xyxy[..., 1]
    out[..., 0], out[..., 1] = xyxy[..., 0] + w / 2, xyxy[..., 1] + h / 2
    out[..., 2], out[..., 3] = w * h, w / h
    return out


def xysr_to_xyxy(xysr: np.ndarray) -> np.ndarray:
    """Inverse of `xyxy_to_xysr`; a non-positive area (possible after a Kalman step) gives a zero-size box."""
    xysr = np.asarray(xysr, np.float64)
    out = _columns_out(xysr)
    area = np.maximum(xysr[..., 2], 0.0)
    w = np.sqrt(area * np.maximum(xysr[..., 3], 1e-12))
    h = area / np.where(w > 0, w, 1.0)
    out[..., 0], out[..., 1] = xysr[..., 0] - w / 2, xysr[..., 1] - h / 2
    out[..., 2], out[..., 3] = xysr[..., 0] + w / 2, xysr[..., 1] + h / 2
    return out


def _intersection_and_areas(a: np.ndarray, b: np.ndarray):
    """Intersection areas and the two areas of xyxy boxes a [..., 4], b [..., 4] (broadcast).

    Sizes are computed as (x2 - x1), clamped at 0, in the same operation order as py-motmetrics, so
    IoU values (and hence thresholded decisions) agree with it bit for bit.
    """
    iw = np.maximum(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0.0)
    ih = np.maximum(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0.0)
    area_a = np.maximum(a[..., 2] - a[..., 0], 0.0) * np.maximum(a[..., 3] - a[..., 1], 0.0)
    area_b = np.maximum(b[..., 2] - b[..., 0], 0.0) * np.maximum(b[..., 3] - b[..., 1], 0.0)
    return iw * ih, area_a, area_b


def paired_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU [...] of corresponding xyxy boxes a [..., 4], b [..., 4] (broadcast); 0 without overlap."""
    inter, area_a, area_b = _intersection_and_areas(np.asarray(a, np.float64), np.asarray(b, np.float64))
    union = area_a + area_b - inter
    out = np.zeros(np.shape(inter), np.float64)
    np.divide(inter, union, out=out, where=inter > 0)
    return out


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU [N, M] in [0, 1] of xyxy boxes a [N, 4] and b [M, 4]; 0 where boxes do not overlap."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    return paired_iou(a[:, None, :], b[None, :, :])


def giou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Generalized IoU [N, M] in [-1, 1] (Rezatofighi et al. 2019): IoU - |C \\ (A ∪ B)| / |C|,
    C the smallest box enclosing both. Unlike IoU it still ranks disjoint boxes by their distance."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    a, b = a[:, None, :], b[None, :, :]
    inter, area_a, area_b = _intersection_and_areas(a, b)
    union = area_a + area_b - inter
    iou = np.zeros(inter.shape, np.float64)
    np.divide(inter, union, out=iou, where=union > 0)
    cw = np.maximum(a[..., 2], b[..., 2]) - np.minimum(a[..., 0], b[..., 0])
    ch = np.maximum(a[..., 3], b[..., 3]) - np.minimum(a[..., 1], b[..., 1])
    enclosing = cw * ch
    penalty = np.zeros(inter.shape, np.float64)
    np.divide(enclosing - union, enclosing, out=penalty, where=enclosing > 0)
    return iou - penalty


def crop_resize(image: np.ndarray, boxes_xyxy: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """Bilinear crops of xyxy boxes from an image [H, W, C], each resized to out_hw -> float32 [N, h, w, C].

    Sample points are the centres of an h x w grid over each box (pixel centres at integer + 0.5);
    points outside the image take the nearest border pixel.
    """
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"image must be [H, W, C], got shape {image.shape}")
    boxes = check_boxes(boxes_xyxy, "boxes")
    h_out, w_out = out_hw
    H, W = image.shape[:2]
    fy = (np.arange(h_out) + 0.5) / h_out
    fx = (np.arange(w_out) + 0.5) / w_out
    ys = boxes[:, 1:2] + fy[None, :] * (boxes[:, 3:4] - boxes[:, 1:2]) - 0.5  # [N, h] in pixel-index units
    xs = boxes[:, 0:1] + fx[None, :] * (boxes[:, 2:3] - boxes[:, 0:1]) - 0.5  # [N, w]
    ys, xs = np.clip(ys, 0, H - 1), np.clip(xs, 0, W - 1)
    y0, x0 = np.floor(ys).astype(np.int64), np.floor(xs).astype(np.int64)
    y1, x1 = np.minimum(y0 + 1, H - 1), np.minimum(x0 + 1, W - 1)
    wy, wx = (ys - y0)[:, :, None, None], (xs - x0)[:, None, :, None]
    img = image.astype(np.float32)

    def gather(yi, xi):
        return img[yi[:, :, None], xi[:, None, :]]  # [N, h, w, C]

    top = gather(y0, x0) * (1 - wx) + gather(y0, x1) * wx
    bottom = gather(y1, x0) * (1 - wx) + gather(y1, x1) * wx
    return (top * (1 - wy) + bottom * wy).astype(np.float32)
