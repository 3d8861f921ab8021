"""Run configs: the keys every run has, overrides by dotted key, and the comparison a resume makes.

Configs are `ml_collections.ConfigDict`s built by a study's `get_config(variant)` from `run_config`,
which holds the keys the run lifecycle reads:

    trainer              the family trainer, `genvision_jax.tasks.<trainer>.train_and_evaluate`
    seed                 root of every random stream
    num_steps            training length (the trainer's natural unit)
    log_every            metrics.jsonl / TensorBoard interval (and the NaN/Inf check)
    checkpoint_every     checkpoint interval; the last step is always checkpointed (0 = only then)
    keep_checkpoints     newest checkpoints kept
    allow_config_change  resume a workdir whose stored config differs (the change is recorded); not
                         part of the stored config

Nothing here imports JAX, so config files and the sweep runner load fast.
"""

from __future__ import annotations

import ast
import difflib
import json
import math
from typing import Any, Mapping

import ml_collections

from genvision_jax.errors import ConfigError

RUN_OPTION_KEYS = ("allow_config_change",)  # options of one invocation, not of the run itself


def run_config(trainer: str, *, seed: int = 0, num_steps: int = 1000, log_every: int = 100,
               checkpoint_every: int = 500, keep_checkpoints: int = 3) -> ml_collections.ConfigDict:
    """A config with the keys every run has (see the module docstring); studies add their own."""
    c = ml_collections.ConfigDict()
    c.trainer = trainer
    c.seed = seed
    c.num_steps = num_steps
    c.log_every = log_every
    c.checkpoint_every = checkpoint_every
    c.keep_checkpoints = keep_checkpoints
    c.allow_config_change = False
    return c


def to_dict(config: ml_collections.ConfigDict | Mapping[str, Any]) -> dict[str, Any]:
    """The config as JSON-normal data (tuples as lists), without the invocation options."""
    raw = config.to_json_best_effort() if hasattr(config, "to_json_best_effort") else json.dumps(config)
    out = json.loads(raw)
    for key in RUN_OPTION_KEYS:
        out.pop(key, None)
    return out


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}; empty sections stay as {} so their removal is seen."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def differences(stored: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """[(dotted key, stored value, new value)] for every key whose JSON value differs (missing = None)."""
    a, b = flatten(to_dict(stored)), flatten(to_dict(new))
    return [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def describe_differences(diffs: list[tuple[str, Any, Any]]) -> str:
    return ", ".join(f"{k}: {old!r} -> {new!r}" for k, old, new in diffs)


def get_value(config: ml_collections.ConfigDict, dotted: str) -> Any:
    """config['a']['b'] for 'a.b'; a missing key raises ConfigError naming it."""
    node = config
    for i, part in enumerate(dotted.split(".")):
        if not hasattr(node, "keys") or part not in node:
            raise ConfigError(_no_key_message(dotted, part, node if hasattr(node, "keys") else {}))
        node = node[part]
    return node


def _no_key_message(dotted: str, part: str, node) -> str:
    keys = sorted(node.keys())
    close = difflib.get_close_matches(part, keys, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"config key {dotted!r}: no key {part!r}{hint}; keys there: {keys}"


def parse_value(dotted: str, current: Any, text: str) -> Any:
    """A command-line string for config key `dotted` as a value of the type the key holds now."""
    def fail(expected: str):
        raise ConfigError(f"--config.{dotted}={text!r}: expected {expected} (the key holds {current!r})")

    if isinstance(current, bool):
        lowered = text.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        fail("a boolean (true or false)")
    if isinstance(current, int):
        try:
            value = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            fail("an integer")
        if isinstance(value, bool) or not isinstance(value, int):
            fail("an integer")
        return value
    if isinstance(current, float):
        try:
            value = float(text)
        except ValueError:
            fail("a number")
        if not math.isfinite(value):
            fail("a finite number")
        return value
    if isinstance(current, str):
        return text
    if isinstance(current, (tuple, list)) or hasattr(current, "keys") or current is None:
        try:
            value = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            if current is None:
                return text
            fail("a Python literal (e.g. (1, 2) or {'a': 1})")
        if isinstance(current, (tuple, list)):
            if not isinstance(value, (tuple, list)):
                fail("a tuple or list")
            return type(current)(value)
        if hasattr(current, "keys") and not isinstance(value, dict):
            fail("a dict (a section is replaced as a whole; or set one of its keys)")
        return value
    fail(f"a value of type {type(current).__name__}")


def set_value(config: ml_collections.ConfigDict, dotted: str, value: Any) -> None:
    """config[...] = value for a dotted key that exists; type errors become ConfigErrors."""
    *parents, leaf = dotted.split(".")
    node = get_value(config, ".".join(parents)) if parents else config
    if not hasattr(node, "keys") or leaf not in node:
        raise ConfigError(_no_key_message(dotted, leaf, node if hasattr(node, "keys") else {}))
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"config key {dotted!r}: {value!r} is not a finite number")
    try:
        with config.unlocked() if hasattr(config, "unlocked") else _nullcontext():
            node[leaf] = value
    except (TypeError, ValueError, AttributeError, KeyError) as e:
        raise ConfigError(f"config key {dotted!r} = {value!r}: {e}") from None


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def apply_overrides(config: ml_collections.ConfigDict, overrides: Mapping[str, Any]) -> ml_collections.ConfigDict:
    """A copy of `config` with typed values at dotted keys (sweep entries); unknown keys are errors."""
    config = config.copy_and_resolve_references()
    for dotted, value in overrides.items():
        set_value(config, dotted, value)
    return config


def check_run_config(config: ml_collections.ConfigDict) -> None:
    """The keys every run has exist and hold sensible values; floats anywhere are finite."""
    for key, kind, low in (("seed", int, 0), ("num_steps", int, 0), ("log_every", int, 1),
                           ("checkpoint_every", int, 0), ("keep_checkpoints", int, 1)):
        if key not in config:
            raise ConfigError(f"config has no {key!r}; every run config has {sorted(_RUN_KEYS)} "
                              "(genvision_jax.train.config.run_config)")
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, kind) or value < low:
            raise ConfigError(f"config key {key!r} = {value!r}: expected an integer >= {low}")
    if not isinstance(config.get("trainer"), str) or not config.get("trainer"):
        raise ConfigError(f"config key 'trainer' = {config.get('trainer')!r}: expected the trainer's name")
    for dotted, value in flatten(to_dict(config)).items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"config key {dotted!r} = {value!r}: not a finite number")


_RUN_KEYS = ("trainer", "seed", "num_steps", "log_every", "checkpoint_every", "keep_checkpoints",
             "allow_config_change")
