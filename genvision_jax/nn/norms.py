"""Normalizations as interchangeable constructors, chosen by a config string.

Two kinds, because they act on different things:

- activation norms, `make_norm(kind, train=...) -> f(x)`, shape-preserving, channels last:
    'batch'    (Ioffe & Szegedy 2015)  statistics per channel over N and the spatial axes; running
               averages in the 'batch_stats' collection (momentum 0.9, eps 1e-5: PyTorch's defaults).
    'instance' (Ulyanov et al. 2016)   per sample and channel over H, W (needs [N, H, W, C]).
    'layer'    (Ba et al. 2016)        per sample over every non-batch axis (H, W, C), one scale and
               bias per channel, as compare_gan's layer norm (Kurach et al. 2019).
    'spectral', 'none'                 identity (spectral normalization acts on weights, below).
- weight norms, `wrap_weights(layer, kind, train=...) -> f(*args)`: spectral normalization
  (Miyato et al. 2018, "Spectral Normalization for GANs") when kind == 'spectral', else the layer.
  It is flax.linen.SpectralNorm (works with genvision_jax.nn.Conv: it divides every >= 2-D param of
  the layer, a conv kernel reshaped to [kh*kw*Cin, Cout], by its largest singular value); the
  power-iteration vector u and the estimate sigma live in 'batch_stats' and are updated only when
  train=True.

Class-conditional batch norm (de Vries et al. 2017; Miyato & Koyama 2018, "cGANs with Projection
Discriminator"): BN without affine, then per-class gamma[y], beta[y] looked up in embeddings.
"""

from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array

NORMS = ("batch", "instance", "layer", "spectral", "none")
BN_MOMENTUM = 0.9  # flax convention: running = momentum * running + (1 - momentum) * batch
EPSILON = 1e-5


def check_norm(kind: str) -> str:
    if kind not in NORMS:
        raise ValueError(f"unknown normalization {kind!r}; choose one of {NORMS}")
    return kind


def make_norm(
    kind: str,
    *,
    train: bool,
    name: str | None = None,
    scale_init: Callable = nn.initializers.ones,
    momentum: float = BN_MOMENTUM,
    epsilon: float = EPSILON,
) -> Callable[[Array], Array]:
    """Activation normalization `x [N, ..., C] -> same shape` of `kind` (see the module docstring).

    Call inside a module's compact method; the returned function creates one submodule named
    `name` on its first call, so call it once. `train` picks batch vs running statistics for 'batch'.
    """
    check_norm(kind)
    if kind == "batch":
        return nn.BatchNorm(use_running_average=not train, momentum=momentum, epsilon=epsilon,
                            scale_init=scale_init, name=name)
    if kind == "instance":
        def instance_norm(x: Array) -> Array:
            if x.ndim != 4:
                raise ValueError(f"instance norm needs feature maps [N, H, W, C], got shape {tuple(x.shape)}")
            return nn.InstanceNorm(epsilon=epsilon, scale_init=scale_init, name=name)(x)
        return instance_norm
    if kind == "layer":
        def layer_norm(x: Array) -> Array:
            if x.ndim < 2:
                raise ValueError(f"layer norm needs a batch axis and features, got shape {tuple(x.shape)}")
            return nn.LayerNorm(epsilon=epsilon, reduction_axes=tuple(range(1, x.ndim)), feature_axes=-1,
                                scale_init=scale_init, name=name)(x)
        return layer_norm
    return lambda x: x


def spectral_norm(layer: nn.Module, *, train: bool, n_steps: int = 1) -> Callable[..., Any]:
    """`layer` with weights W / sigma(W), sigma by `n_steps` power iterations per call (Miyato et al. 2018).

    The layer's params keep their place (e.g. 'conv1/kernel'); u and sigma go to
    'batch_stats/<layer name>_sn'. With train=False the stored u is used but not overwritten.
    """
    if layer.name is None:
        raise ValueError("spectral_norm needs a named layer (construct it inside a compact method or pass name=)")
    wrapped = nn.SpectralNorm(layer, n_steps=n_steps, name=f"{layer.name}_sn")
    return lambda *args, **kwargs: wrapped(*args, update_stats=train, **kwargs)


def wrap_weights(layer: nn.Module, kind: str, *, train: bool) -> Callable[..., Any]:
    """`layer` spectrally normalized when kind == 'spectral', else `layer` itself (any of NORMS)."""
    return spectral_norm(layer, train=train) if check_norm(kind) == "spectral" else layer


def check_labels(y: Array | None, batch: int, num_classes: int, who: str) -> None:
    """Errors for labels that do not fit a model with `num_classes` (0: unconditional, y must be None).

    Labels are int [batch] in [0, num_classes); the range is checked when y is concrete (not under jit).
    """
    if num_classes < 0:
        raise ValueError(f"{who}: num_classes must be >= 0, got {num_classes}")
    if num_classes == 0:
        if y is not None:
            raise ValueError(f"{who} is unconditional (num_classes=0) but was given labels y")
        return
    if y is None:
        raise ValueError(f"{who} is class-conditional (num_classes={num_classes}) and needs labels y of shape [N]")
    if tuple(y.shape) != (batch,):
        raise ValueError(f"{who}: labels y must have shape [{batch}] (one per sample), got {tuple(y.shape)}")
    if not jnp.issubdtype(y.dtype, jnp.integer):
        raise TypeError(f"{who}: labels y must be integers, got dtype {y.dtype}")
    if not isinstance(y, jax.core.Tracer) and batch > 0:
        values = np.asarray(y)
        lo, hi = int(values.min()), int(values.max())
        if lo < 0 or hi >= num_classes:
            raise ValueError(f"{who}: labels must be in [0, {num_classes}), got values in [{lo}, {hi}]")


class ConditionalBatchNorm(nn.Module):
    """x [N, ..., C], y int [N] -> BN(x) * gamma[y] + beta[y]; gamma, beta: [num_classes, C] embeddings.

    Params 'scale/embedding' and 'bias/embedding'; running statistics in 'batch_stats/bn'.
    """

    num_classes: int
    momentum: float = BN_MOMENTUM
    epsilon: float = EPSILON
    scale_init: Callable = nn.initializers.ones
    bias_init: Callable = nn.initializers.zeros

    @nn.compact
    def __call__(self, x: Array, y: Array, *, train: bool) -> Array:
        if self.num_classes < 1:
            raise ValueError(f"ConditionalBatchNorm needs num_classes >= 1, got {self.num_classes}")
        check_labels(y, x.shape[0], self.num_classes, "ConditionalBatchNorm")
        c = x.shape[-1]
        x = nn.BatchNorm(use_running_average=not train, momentum=self.momentum, epsilon=self.epsilon,
                         use_scale=False, use_bias=False, name="bn")(x)
        gamma = nn.Embed(self.num_classes, c, embedding_init=self.scale_init, name="scale")(y)
        beta = nn.Embed(self.num_classes, c, embedding_init=self.bias_init, name="bias")(y)
        shape = (x.shape[0],) + (1,) * (x.ndim - 2) + (c,)
        return x * gamma.reshape(shape) + beta.reshape(shape)


def make_conditional_norm(
    num_classes: int,
    *,
    train: bool,
    name: str | None = None,
    scale_init: Callable = nn.initializers.ones,
    momentum: float = BN_MOMENTUM,
    epsilon: float = EPSILON,
) -> Callable[[Array, Array | None], Array]:
    """Generator norm `f(x, y)`: batch norm when num_classes == 0 (y ignored), else ConditionalBatchNorm."""
    if num_classes == 0:
        bn = make_norm("batch", train=train, name=name, scale_init=scale_init, momentum=momentum, epsilon=epsilon)
        return lambda x, y: bn(x)
    cbn = ConditionalBatchNorm(num_classes, momentum=momentum, epsilon=epsilon, scale_init=scale_init, name=name)
    return lambda x, y: cbn(x, y, train=train)
