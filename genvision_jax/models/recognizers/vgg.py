"""VGG16 and VGG19 convolutional feature stacks in torchvision's `features[i]` layout, NHWC, with taps.

Simonyan & Zisserman 2015, "Very Deep Convolutional Networks for Large-Scale Image Recognition",
Table 1, configurations D (16 weight layers) and E (19): five stages of 3x3 / stride 1 / padding 1
convolutions, each followed by a ReLU, a 2x2 / stride 2 max pool closing every stage; widths 64, 128,
256, 512, 512 with 2, 2, 3, 3, 3 (D) or 2, 2, 4, 4, 4 (E) convolutions per stage.

Layer i of the stack is torchvision's `vgg16().features[i]` / `vgg19().features[i]`: convs are
submodules `features_<i>`, so the state-dict keys `features.<i>.weight/bias` map 1:1
(`genvision_jax.pretrained.torchvision_backbones.load_vgg`). Every layer is a tap, named by its index
or by the conventional alias (`layer_names(depth)`):

    convS_J   the J-th conv of stage S, its output before the ReLU (pre-activation)
    reluS_J   the same after the ReLU (post-activation)
    poolS     the max pool ending stage S

e.g. VGG16: 0 conv1_1, 1 relu1_1, 2 conv1_2, 3 relu1_2, 4 pool1, ..., 29 relu5_3, 30 pool5; VGG19:
..., 35 relu5_4, 36 pool5. Only the layers up to the deepest requested tap are computed; the ImageNet
classifier is not part of the module.

Inputs are RGB in [-1, 1]. `input_norm` maps them to what the weights were trained on:

    "imagenet"  (default) torchvision's weights: (x01 - mean) / std with x01 = (x + 1) / 2,
                mean = (0.485, 0.456, 0.406), std = (0.229, 0.224, 0.225), RGB.
    "caffe"     the original Caffe release of the paper (the weights Gatys et al. 2016 and Johnson
                et al. 2016 used, once converted to this layout): BGR in [0, 255] minus the BGR
                ImageNet mean (103.939, 116.779, 123.68), no division.
    "none"      the input goes to the first conv unchanged (LPIPS applies its own ScalingLayer).
"""

from __future__ import annotations

import functools
from typing import Any, Iterable, Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genvision_jax.nn import Conv

# Convolution widths per stage, Simonyan & Zisserman 2015 Table 1.
CONFIGS = {
    16: ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),  # D
    19: ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4),  # E
}
DEPTHS = tuple(CONFIGS)
INPUT_NORMS = ("imagenet", "caffe", "none")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
# Frozen trunks (perceptual losses, LPIPS: forward and input gradients only) run faster on XLA:CPU's
# own convolutions than on im2col; measured for VGG16 in torchvision_backbones.DEFAULT_IMPL.
DEFAULT_IMPL = "xla"

Tap = str | int


def check_depth(depth: int) -> int:
    if depth not in CONFIGS:
        raise ValueError(f"unknown VGG depth {depth!r}; valid: {list(DEPTHS)}")
    return depth


@functools.cache
def _layers(depth: int) -> tuple[tuple[str, int, int], ...]:
    """Per torchvision index: (alias, kind 'conv'/'relu'/'pool' as alias prefix, conv width or 0)."""
    out = []
    for stage, widths in enumerate(CONFIGS[check_depth(depth)], 1):
        for j, width in enumerate(widths, 1):
            out += [(f"conv{stage}_{j}", width), (f"relu{stage}_{j}", width)]
        out.append((f"pool{stage}", 0))
    return tuple((name, i, width) for i, (name, width) in enumerate(out))


def layer_names(depth: int = 16) -> tuple[str, ...]:
    """The alias of each torchvision `features` index: layer_names(16)[3] == 'relu1_2'."""
    return tuple(name for name, _, _ in _layers(depth))


def conv_indices(depth: int = 16) -> tuple[int, ...]:
    """The torchvision `features` indices that hold a conv (the ones with weights)."""
    return tuple(i for name, i, _ in _layers(depth) if name.startswith("conv"))


def tap_index(depth: int, tap: Tap) -> int:
    """torchvision index of a tap given as an index (int or digit string) or an alias."""
    names = layer_names(depth)
    if isinstance(tap, bool) or not isinstance(tap, (int, str)):
        raise ValueError(f"VGG{depth} tap {tap!r}: expected an alias like 'relu3_3' or an index")
    if isinstance(tap, str) and tap.isdigit():
        tap = int(tap)
    if isinstance(tap, int):
        if not 0 <= tap < len(names):
            raise ValueError(f"VGG{depth} tap index {tap} out of range; valid: 0..{len(names) - 1}")
        return tap
    if tap not in names:
        raise ValueError(f"unknown VGG{depth} tap {tap!r}; valid: indices 0..{len(names) - 1} or "
                         f"{names[0]} ... {names[-1]} ({', '.join(names)})")
    return names.index(tap)


def min_size(depth: int, deepest: int) -> int:
    """Smallest input side for which the layer at index `deepest` is at least 1x1."""
    pools = sum(name.startswith("pool") for name in layer_names(depth)[:deepest + 1])
    return 2 ** pools


def normalize_input(x: jax.Array, input_norm: str) -> jax.Array:
    """RGB [..., 3] in [-1, 1] -> the input the weights expect (see the module docstring)."""
    if input_norm == "imagenet":
        return ((x + 1.0) * 0.5 - jnp.asarray(IMAGENET_MEAN, x.dtype)) / jnp.asarray(IMAGENET_STD, x.dtype)
    if input_norm == "caffe":
        return (x[..., ::-1] + 1.0) * 127.5 - jnp.asarray(CAFFE_MEAN_BGR, x.dtype)
    if input_norm == "none":
        return x
    raise ValueError(f"unknown VGG input_norm {input_norm!r}; valid: {list(INPUT_NORMS)}")


def vgg_stack(x: jax.Array, depth: int, wanted: Iterable[int], impl: str = DEFAULT_IMPL,
              what: str | None = None) -> dict[int, jax.Array]:
    """Runs torchvision's `features` layers 0..max(wanted) on x [N, H, W, C]; {index: output}.

    Call it inside a compact method: the convs become submodules `features_<i>` of the calling
    module (so the VGG16 trunk of LPIPS and `VGG` share this one definition and one param layout).
    """
    wanted = set(wanted)
    what = what or f"VGG{depth}"
    if not wanted:
        raise ValueError(f"{what}: no taps requested")
    deepest = max(wanted)
    if x.ndim != 4:
        raise ValueError(f"{what} expects images [N, H, W, 3]; got shape {tuple(x.shape)}")
    need = min_size(depth, deepest)
    if min(x.shape[1:3]) < need:
        raise ValueError(f"{what} taps up to {layer_names(depth)[deepest]!r} (index {deepest}) need "
                         f"images of at least {need}x{need}; got {x.shape[1]}x{x.shape[2]}")
    out = {}
    for name, i, width in _layers(depth)[:deepest + 1]:
        if name.startswith("conv"):
            x = Conv(width, 3, 1, 1, impl=impl, name=f"features_{i}")(x)
        elif name.startswith("relu"):
            x = nn.relu(x)
        else:
            x = nn.max_pool(x, (2, 2), (2, 2))  # torch MaxPool2d(2, 2): floor mode, no padding
        if i in wanted:
            out[i] = x
    return out


class VGG(nn.Module):
    """VGG16/VGG19 features: images [N, H, W, 3] in [-1, 1] -> {tap: [N, h, w, c]}.

    `module.apply(variables, x, taps)`: taps are any subset of indices and aliases (see the module
    docstring); the result is keyed by `str(tap)` as requested (an int index 3 gives key '3').
    taps=None computes the whole stack and returns every layer under its alias (what `init` uses,
    so the params hold all convs). Params: {'features_<i>': {'kernel', 'bias'}} for the conv indices.
    """

    depth: int = 16
    input_norm: str = "imagenet"
    impl: str = DEFAULT_IMPL

    @nn.compact
    def __call__(self, x: jax.Array, taps: Sequence[Tap] | None = None) -> dict[str, jax.Array]:
        depth = check_depth(self.depth)
        names = layer_names(depth)
        if taps is None:
            taps = names
        elif isinstance(taps, (str, int)):
            raise ValueError(f"VGG{depth} taps must be a sequence of taps, e.g. ['{taps}']; "
                             f"got the single tap {taps!r}")
        indices = {str(t): tap_index(depth, t) for t in taps}
        if x.ndim != 4 or x.shape[-1] != 3:
            raise ValueError(f"VGG{depth} expects RGB images [N, H, W, 3] in [-1, 1]; got shape "
                             f"{tuple(x.shape)}")
        x = normalize_input(x, self.input_norm)
        outputs = vgg_stack(x, depth, indices.values(), self.impl)
        return {key: outputs[i] for key, i in indices.items()}

    def features_fn(self, variables: Mapping[str, Any], taps: Sequence[Tap]):
        """`images [N, H, W, 3] in [-1, 1] -> {str(tap): features}`: a backbone for
        `genvision_jax.losses.perceptual`, with `variables` ({'params': ...}) closed over.

        Under `jax.jit`, closed-over variables become constants of the compiled program (VGG16's
        59 MB, VGG19's 80 MB, in every program and in the compilation cache). For a jitted training
        step, pass the variables as an argument and build the function inside:
        `jax.jit(lambda v, x, y: feature_loss(VGG(16).features_fn(v, taps), x, y, taps))`.
        """
        return features_fn(self, variables, taps)


def features_fn(module: VGG, variables: Mapping[str, Any], taps: Sequence[Tap]):
    """A `VGG` module and its variables as a pure function of the images (see VGG.features_fn)."""
    taps = tuple(taps)
    for t in taps:  # fail now, not at the first call inside a jitted loss
        tap_index(check_depth(module.depth), t)

    def fn(images: jax.Array) -> dict[str, jax.Array]:
        return module.apply(variables, images, taps)

    return fn
