"""LPIPS, the learned perceptual image patch similarity (Zhang et al. 2018, "The Unreasonable
Effectiveness of Deep Features as a Perceptual Metric").

For images x, y in [-1, 1]: both go through a frozen ImageNet trunk (AlexNet, VGG16 or
SqueezeNet 1.1); at each tap k the features are divided by their L2 norm over channels (+1e-10),
the squared difference is weighted per channel by the learned non-negative head w_k (a 1x1 conv),
averaged over space, and the taps are summed:

    LPIPS(x, y) = sum_k mean_hw( sum_c w_kc (f̂_kc(x) - f̂_kc(y))² ).

Version 0.1 (the lpips package's default) first maps [-1, 1] inputs to ImageNet statistics with
the ScalingLayer (x - shift) / scale, shift = (-.030, -.088, -.188), scale = (.458, .448, .450);
version 0.0 fed the [-1, 1] images to the trunk unchanged (the original release's bug, kept for
comparability) and has its own heads. The version and both weight files' hashes are the protocol.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from genvision_jax.models.recognizers.torchvision_backbones import BACKBONES, MIN_SIZE, check_net
from genvision_jax.pretrained import lpips_heads, torchvision_backbones
from genvision_jax.pretrained.state_dict import file_sha256

VERSIONS = ("0.0", "0.1")
SCALING_SHIFT = (-0.030, -0.088, -0.188)
SCALING_SCALE = (0.458, 0.448, 0.450)
_NORM_EPS = 1e-10


def check_version(version: str) -> str:
    if version not in VERSIONS:
        raise ValueError(f"unknown LPIPS version {version!r}; valid: {list(VERSIONS)}")
    return version


class LPIPSNet(nn.Module):
    """(x, y) [N, H, W, 3] in [-1, 1] -> LPIPS distance [N]. Params: {'net': trunk, 'lin<k>': head}."""

    net: str = "alex"
    version: str = "0.1"

    @nn.compact
    def __call__(self, x, y) -> jax.Array:
        if x.shape != y.shape:
            raise ValueError(f"LPIPS needs x and y of equal shape; got {x.shape} and {y.shape}")
        if check_version(self.version) == "0.1":
            shift, scale = jnp.asarray(SCALING_SHIFT), jnp.asarray(SCALING_SCALE)
            x, y = (x - shift) / scale, (y - shift) / scale
        n = x.shape[0]
        taps = BACKBONES[check_net(self.net)](name="net")(jnp.concatenate([x, y]))  # one pass
        total = jnp.zeros((n,), x.dtype)
        for k, feats in enumerate(taps):
            feats = feats / (jnp.sqrt(jnp.sum(feats * feats, axis=-1, keepdims=True)) + _NORM_EPS)
            sq_diff = jnp.square(feats[:n] - feats[n:])
            # mean over space, then the 1x1 head: the same sum as head-then-mean, fewer FLOPs
            total = total + nn.Dense(1, use_bias=False, name=f"lin{k}")(
                jnp.mean(sq_diff, axis=(1, 2)))[:, 0]
        return total


@dataclasses.dataclass(frozen=True, eq=False)
class LPIPS:
    """A loaded LPIPS metric: `lpips(x, y) -> [N]` numpy float32 for x, y [N, H, W, 3] in [-1, 1].

    `apply(params, x, y)` is the pure, jit-able (and differentiable, for perceptual losses) form.
    Calls are evaluated in fixed batches of `batch_size` so one shape per image size is compiled.
    """

    net: str
    version: str
    params: Any
    backbone_sha256: str
    lin_sha256: str
    batch_size: int = 32

    @functools.cached_property
    def module(self) -> LPIPSNet:
        return LPIPSNet(self.net, self.version)

    def apply(self, params, x, y) -> jax.Array:
        return self.module.apply({"params": params}, x, y)

    @functools.cached_property
    def _batch_fn(self):
        return jax.jit(self.apply)

    def protocol(self) -> dict:
        return {"metric": "lpips", "net": self.net, "version": self.version,
                "backbone_sha256": self.backbone_sha256, "lin_sha256": self.lin_sha256}

    def validate(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Both batches as float32 numpy arrays, or ValueError naming the problem."""
        expected = "LPIPS expects two float batches [N, H, W, 3] of equal shape in [-1, 1]"
        shapes = tuple(np.shape(x)), tuple(np.shape(y))
        if shapes[0] != shapes[1] or len(shapes[0]) != 4 or shapes[0][-1] != 3:
            raise ValueError(f"{expected}; got shapes {shapes[0]} and {shapes[1]}")
        min_size = MIN_SIZE[self.net]
        if min(shapes[0][1:3]) < min_size:
            raise ValueError(f"LPIPS ({self.net}) needs images of at least {min_size}x{min_size}; "
                             f"got {shapes[0][1]}x{shapes[0][2]}")
        out = []
        for a in (x, y):
            dtype = np.asarray(a).dtype if not hasattr(a, "dtype") else np.dtype(a.dtype)
            if not np.issubdtype(dtype, np.floating):
                raise ValueError(f"{expected}; got dtype {dtype} (scale uint8 images with "
                                 "x / 127.5 - 1)")
            a = np.asarray(a, np.float32)
            if a.size and not np.all(np.isfinite(a)):
                raise ValueError(f"{expected}; got NaN or Inf values")
            if a.size and (a.min() < -1.0 or a.max() > 1.0):
                raise ValueError(f"{expected}; got values in [{a.min():g}, {a.max():g}]")
            out.append(a)
        return out[0], out[1]

    def __call__(self, x, y) -> np.ndarray:
        x, y = self.validate(x, y)
        n, bs = x.shape[0], self.batch_size
        out = []
        for start in range(0, n, bs):
            xb, yb = x[start:start + bs], y[start:start + bs]
            valid = xb.shape[0]
            if valid < bs:  # pad so every call has the compiled shape
                pad = ((0, bs - valid), (0, 0), (0, 0), (0, 0))
                xb, yb = np.pad(xb, pad), np.pad(yb, pad)
            out.append(np.asarray(self._batch_fn(self.params, xb, yb))[:valid])
        return np.concatenate(out) if out else np.zeros((0,), np.float32)


def load_lpips(net: str = "alex", version: str = "0.1", *, backbone_path, lin_path,
               batch_size: int = 32) -> LPIPS:
    """LPIPS from local files: a torchvision trunk checkpoint and the lpips package's heads.

    backbone_path: e.g. torchvision's `alexnet-owt-7be5be79.pth` (or same-keyed .npz);
    lin_path: e.g. the lpips package's `weights/v0.1/alex.pth` (must match `version`).
    """
    check_net(net)
    check_version(version)
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive; got {batch_size}")
    params = {"net": torchvision_backbones.load(backbone_path, net),
              **lpips_heads.load(lin_path, net)}
    return LPIPS(net, version, params, file_sha256(backbone_path), file_sha256(lin_path),
                 batch_size)
