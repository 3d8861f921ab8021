"""Optimizer factory from a config block, so an experiment changes optimizers by config alone."""

from typing import Any, Mapping

import jax
import optax

_OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
_SCHEDULES = ("constant", "cosine", "linear", "exponential")
_KEYS = {
    "name", "learning_rate", "b1", "b2", "eps", "eps_root", "weight_decay", "momentum", "nesterov",
    "schedule", "warmup_steps", "decay_steps", "end_value", "decay_rate", "grad_clip_norm", "lr_multipliers",
}


def _get(cfg: Mapping[str, Any], key: str, default):
    value = cfg.get(key, default)
    return default if value is None else value


def make_schedule(cfg: Mapping[str, Any]) -> optax.Schedule:
    """Learning-rate schedule: constant, cosine, linear decay or exponential decay, with optional warmup."""
    lr = float(cfg["learning_rate"])
    kind = _get(cfg, "schedule", "constant")
    warmup = int(_get(cfg, "warmup_steps", 0))
    decay_steps = int(_get(cfg, "decay_steps", 0))
    end = float(_get(cfg, "end_value", 0.0))
    if kind not in _SCHEDULES:
        raise ValueError(f"unknown schedule {kind!r}; choose one of {_SCHEDULES}")
    if kind != "constant" and decay_steps <= 0:
        raise ValueError(f"schedule {kind!r} needs decay_steps > 0, got {decay_steps}")
    if kind == "constant":
        main = optax.constant_schedule(lr)
    elif kind == "cosine":
        main = optax.cosine_decay_schedule(lr, decay_steps, alpha=end / lr if lr else 0.0)
    elif kind == "linear":
        main = optax.linear_schedule(lr, end, decay_steps)
    else:
        main = optax.exponential_decay(lr, decay_steps, float(_get(cfg, "decay_rate", 0.1)))
    if warmup > 0:
        return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup), main], [warmup])
    return main


def make_optimizer(cfg: Mapping[str, Any]) -> optax.GradientTransformation:
    """Build an optax optimizer from e.g. `{'name': 'adam', 'learning_rate': 2e-4, 'b1': 0.5}`.

    `lr_multipliers` ({substring: factor}) scales the learning rate of every parameter whose path
    ('coarse/mlp0/kernel') contains the substring (the first match in order; others keep 1), for
    models with per-group rates such as TensoRF's grids vs MLP. Unknown keys and names raise errors
    naming them, so a typo never silently means "default".
    """
    cfg = dict(cfg)
    unknown = sorted(set(cfg) - _KEYS)
    if unknown:
        raise KeyError(f"unknown optimizer config key(s) {unknown}; valid keys: {sorted(_KEYS)}")
    name = cfg.get("name", "adam")
    if name not in _OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {_OPTIMIZERS}")
    if "learning_rate" not in cfg:
        raise KeyError("optimizer config needs 'learning_rate'")
    lr = make_schedule(cfg)
    if name in ("adam", "adamw"):
        # eps_root > 0 keeps Adam differentiable where the second moment is 0 (needed when a loss
        # differentiates through optimizer steps, as the unrolled GAN does).
        kw = dict(b1=float(_get(cfg, "b1", 0.9)), b2=float(_get(cfg, "b2", 0.999)), eps=float(_get(cfg, "eps", 1e-8)),
                  eps_root=float(_get(cfg, "eps_root", 0.0)))
        opt = (optax.adamw(lr, weight_decay=float(_get(cfg, "weight_decay", 1e-4)), **kw)
               if name == "adamw" else optax.adam(lr, **kw))
    elif name == "sgd":
        opt = optax.sgd(lr, momentum=_get(cfg, "momentum", None), nesterov=bool(_get(cfg, "nesterov", False)))
    else:
        opt = optax.rmsprop(lr, eps=float(_get(cfg, "eps", 1e-8)), momentum=float(_get(cfg, "momentum", 0.0)))
    multipliers = dict(_get(cfg, "lr_multipliers", None) or {})
    if multipliers:
        opt = optax.chain(opt, scale_by_path(multipliers))
    clip = _get(cfg, "grad_clip_norm", None)
    if clip:
        opt = optax.chain(optax.clip_by_global_norm(float(clip)), opt)
    return opt


def scale_by_path(multipliers: Mapping[str, float]) -> optax.GradientTransformation:
    """Multiply each update by the factor of the first substring of `multipliers` in its parameter path
    (1 if none). After an optimizer whose updates are proportional to its learning rate (Adam, SGD,
    RMSProp), this is a per-group learning rate. Unlike `optax.multi_transform`, which would build one
    optimizer (and state) per group, every group shares the one optimizer state; the factors are
    resolved from the paths at trace time, so the step pays one multiply per leaf."""

    def factor(path) -> float:
        name = "/".join(str(getattr(k, "key", getattr(k, "name", k))) for k in path)
        return next((float(v) for k, v in multipliers.items() if k in name), 1.0)

    def update(updates, state, params=None):
        del params
        return jax.tree_util.tree_map_with_path(lambda path, u: u * factor(path), updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)
