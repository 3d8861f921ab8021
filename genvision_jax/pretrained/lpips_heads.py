"""LPIPS linear heads from the lpips package's weight files (`weights/v0.1/alex.pth`, ...) or .npz.

Each head `lin<k>` of those files is a bias-free 1x1 conv `lin<k>.model.1.weight` [1, C_k, 1, 1]
(`model.0` when the head was built without dropout). LPIPS applies it to squared feature
differences and averages over space; averaging first and then taking the dot product is the same
number, so the Flax head is a bias-free Dense kernel [C_k, 1].
"""

from __future__ import annotations

import re

import numpy as np

from genvision_jax.models.recognizers.torchvision_backbones import TAP_CHANNELS, check_net
from genvision_jax.pretrained.state_dict import convert, read_state_dict

_HEAD = re.compile(r"lin(\d+)\.model\.([01])\.weight")


def _head_kernel(w: np.ndarray) -> np.ndarray:
    """[1, C, 1, 1] 1x1 conv weight -> [C, 1] Dense kernel (other shapes pass on to be reported)."""
    return w.reshape(w.shape[1], 1) if w.ndim == 4 and w.shape[0] == 1 and w.shape[2:] == (1, 1) else w


def params_from_state_dict(state_dict, net: str, source: str = "state dict"):
    """{'lin0': {'kernel': [C_0, 1]}, ...} for backbone `net` from an lpips-named state dict."""
    channels = TAP_CHANNELS[check_net(net)]
    # The dropout-free layout names the conv model.0; use whichever the file has for each head.
    sub = {int(m.group(1)): m.group(2) for key in state_dict if (m := _HEAD.fullmatch(key))}
    target = {"params": {f"lin{k}": {"kernel": np.zeros((c, 1), np.float32)}
                         for k, c in enumerate(channels)}}

    def source_of(path, shape):
        k = int(path[1][3:])
        return f"lin{k}.model.{sub.get(k, '1')}.weight", _head_kernel

    variables = convert(state_dict, target, source_of,
                        what=f"{source}: LPIPS ({net}) linear heads")
    return variables["params"]


def load(path, net: str):
    """LPIPS linear-head params for backbone `net` from a .pth/.pt/.npz file."""
    return params_from_state_dict(read_state_dict(path), net, source=str(path))
