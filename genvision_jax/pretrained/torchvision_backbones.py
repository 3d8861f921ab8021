"""AlexNet / VGG16 / VGG19 / SqueezeNet 1.1 params from local torchvision checkpoints (or an .npz).

Reads torchvision's ImageNet files (`alexnet-owt-7be5be79.pth`, `vgg16-397923af.pth`,
`vgg19-dcbb9e9d.pth`, `squeezenet1_1-b8a52dc0.pth`, or any state dict with the same names):
`features.<i>.weight` / `.bias` fill `features_<i>` of the LPIPS trunks
(`genvision_jax.models.recognizers.torchvision_backbones`, `load`) or of the full VGG feature stacks
(`genvision_jax.models.recognizers.vgg.VGG`, `load_vgg`). The ImageNet classifier (`classifier.*`)
is ignored; every other key must be used (the LPIPS trunks tap after their last conv, so no
`features` key is left over).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from genvision_jax.models.recognizers import vgg
from genvision_jax.models.recognizers.torchvision_backbones import BACKBONES, MIN_SIZE, check_net
from genvision_jax.pretrained.state_dict import convert, read_state_dict, torch_source


def _module_name(modules: tuple[str, ...]) -> str:
    """('features_3', 'squeeze') -> 'features.3.squeeze'."""
    head, *rest = modules
    return ".".join([head.replace("features_", "features.", 1), *rest])


def abstract_params(net: str):
    """Shapes of the backbone's params ({'params': ...}) without initialising them."""
    size = MIN_SIZE[check_net(net)]
    x = jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32)
    return jax.eval_shape(BACKBONES[net]().init, jax.random.key(0), x)


def params_from_state_dict(state_dict, net: str, source: str = "state dict"):
    """Backbone params (the dict under 'params') from a torchvision-named state dict."""
    variables = convert(
        state_dict, abstract_params(net),
        lambda path, shape: torch_source(path, shape, _module_name),
        ignore=lambda key: key.startswith("classifier."),
        what=f"{source}: torchvision {net} backbone weights")
    return variables["params"]


def load(path, net: str):
    """Params of `BACKBONES[net]` from a torchvision .pth/.pt (or same-keyed .npz) file."""
    return params_from_state_dict(read_state_dict(path), net, source=str(path))


def vgg_abstract_params(depth: int = 16):
    """Shapes of `vgg.VGG(depth)`'s params ({'params': {'features_<i>': ...}}) without initialising."""
    size = vgg.min_size(vgg.check_depth(depth), len(vgg.layer_names(depth)) - 1)
    x = jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32)
    return jax.eval_shape(vgg.VGG(depth).init, jax.random.key(0), x)


def _other_depth_hint(state_dict, depth: int) -> str:
    """' (this looks like a VGG19 file: depth=19)' when the conv keys are the other depth's."""
    keys = {k for k in state_dict if k.startswith("features.")}
    for other in vgg.DEPTHS:
        expected = {f"features.{i}.{leaf}" for i in vgg.conv_indices(other) for leaf in ("weight", "bias")}
        if other != depth and keys == expected:
            return f" (these are VGG{other}'s features: pass depth={other})"
    return ""


def vgg_params_from_state_dict(state_dict, depth: int = 16, source: str = "state dict"):
    """`vgg.VGG(depth)` params (the dict under 'params') from a torchvision-named state dict.

    Every `features.<i>.weight/bias` of configuration D (depth 16) or E (depth 19) must be present
    with torchvision's shape and nothing else but `classifier.*`; mismatches are listed by key.
    """
    target = vgg_abstract_params(depth)
    try:
        variables = convert(
            state_dict, target, lambda path, shape: torch_source(path, shape, _module_name),
            ignore=lambda key: key.startswith("classifier."),
            what=f"{source}: torchvision vgg{depth} features weights")
    except ValueError as err:
        hint = _other_depth_hint(state_dict, depth)
        if not hint:
            raise
        raise ValueError(f"{err}{hint}") from None
    return variables["params"]


def load_vgg(path, depth: int = 16):
    """`vgg.VGG(depth)` params from a torchvision .pth/.pt (e.g. `vgg16-397923af.pth`,
    `vgg19-dcbb9e9d.pth`) or a same-keyed .npz file."""
    return vgg_params_from_state_dict(read_state_dict(path), depth, source=str(path))
