"""AlexNet / VGG16 / SqueezeNet 1.1 trunk params from local torchvision checkpoints (or an .npz).

Reads torchvision's ImageNet files (`alexnet-owt-7be5be79.pth`, `vgg16-397923af.pth`,
`squeezenet1_1-b8a52dc0.pth`, or any state dict with the same names): `features.<i>.weight` /
`.bias` fill `features_<i>` of `genvision_jax.models.recognizers.torchvision_backbones`. The
ImageNet classifier (`classifier.*`) and any convs after the last LPIPS tap (none in these three)
are ignored; every other key must be used.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

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
