"""Loop helpers: metric buffering without host syncs, and the NaN/Inf guard."""

from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np


class NonFiniteError(FloatingPointError):
    """A training quantity became NaN or Inf; names the step, the quantity and the last checkpoint.

    `checkpoint` says what a re-run resumes from (the run lifecycle fills it in); without it the
    message says nothing about checkpoints.
    """

    def __init__(self, step: int, name: str, value: float, checkpoint: str | None = None):
        self.step, self.name, self.value, self.checkpoint = step, name, value, checkpoint
        message = f"non-finite {name} = {value} at step {step}; training stopped."
        if checkpoint:
            message += f" {checkpoint}"
        super().__init__(message)

    def with_checkpoint(self, checkpoint: str) -> NonFiniteError:
        return NonFiniteError(self.step, self.name, self.value, checkpoint)


class MetricBuffer:
    """Holds each step's on-device metrics until the next log; then one `device_get` for all of them.

    `flush()` checks every buffered step for NaN/Inf (so the error names the first bad step, not the
    logging step) and returns the mean of each metric over the buffered steps.
    """

    def __init__(self):
        self._steps: list[int] = []
        self._metrics: list[Mapping[str, Any]] = []

    def add(self, step: int, metrics: Mapping[str, Any]) -> None:
        self._steps.append(int(step))
        self._metrics.append(metrics)

    def __len__(self) -> int:
        return len(self._steps)

    def flush(self) -> dict[str, float]:
        if not self._steps:
            return {}
        fetched = jax.device_get(self._metrics)
        steps = self._steps
        self._steps, self._metrics = [], []
        for step, metrics in zip(steps, fetched):
            for name in sorted(metrics, key=lambda k: ("loss" not in k, k)):  # name a loss first
                value = np.asarray(metrics[name])
                if not np.all(np.isfinite(value)):
                    raise NonFiniteError(step, name, float(value.ravel()[~np.isfinite(value.ravel())][0]))
        return {k: float(np.mean([np.mean(m[k]) for m in fetched])) for k in fetched[0]}


def is_due(step: int, every: int, last_step: int) -> bool:
    """True at multiples of `every` (≥ 1) and at the final step."""
    return step == last_step or (every > 0 and step % every == 0)


def first_nonfinite(tree: Any) -> tuple[str, float] | None:
    """(path, value) of the first float leaf holding NaN/Inf, else None (reduced on the device)."""
    leaves = jax.tree_util.tree_leaves_with_path(tree)
    floats = [(p, x) for p, x in leaves if jnp.issubdtype(jnp.result_type(x), jnp.floating)]
    flags = jax.device_get(_all_finite([x for _, x in floats]))
    for (path, leaf), ok in zip(floats, flags):
        if not ok:
            arr = np.asarray(jax.device_get(leaf)).ravel()
            return jax.tree_util.keystr(path), float(arr[~np.isfinite(arr)][0])
    return None


def check_finite_tree(tree: Any, what: str, step: int) -> None:
    """Raise NonFiniteError naming the first float leaf of `tree` holding NaN/Inf.

    Used before saving a checkpoint, so a checkpoint never holds non-finite state.
    """
    bad = first_nonfinite(tree)
    if bad is not None:
        raise NonFiniteError(step, what + bad[0], bad[1])


@jax.jit
def _all_finite(leaves):
    return [jnp.all(jnp.isfinite(x)) for x in leaves]
