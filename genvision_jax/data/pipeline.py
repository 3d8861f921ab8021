"""Grain pipelines: seeded, reshuffled every epoch, sliced per process, resumable batch by batch.

The record stream is defined globally and then dealt out to processes: the epoch-e order is
grain's index shuffle of the source with seed (pipeline seed, e); random transforms draw from a
generator seeded by (pipeline seed, position in that global stream); process p of P takes global
positions p, p + P, p + 2P, ...; batches are consecutive. So the global batch at step s (the
concatenation of every process's batch s) holds the same records for any number of processes with
the same global batch size — in process-major order, a permutation that batch means and BatchNorm
do not see — and a record's augmentation does not depend on the process layout.

The iterator state is grain's `{"next_index": k}` (batches consumed) plus the settings that fix
the stream; it is the same on every process and JSON-serializable, and `set_state` resumes exactly
(prefetched batches are discarded and recomputed from their positions).
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

import grain
import numpy as np

Batch = dict[str, np.ndarray]


class DataIterator(Iterator[Batch]):
    """Iterator over per-process batches with `get_state()` / `set_state(state)`.

    State: `{"iterator": {"next_index": k}, "seed": ..., "batch_size": ..., "process_count": ...,
    "num_records": ..., "shuffle": ..., "num_epochs": ..., "drop_remainder": ...}` — grain's own
    iterator state (k = batches consumed) plus the settings, which `set_state` checks.
    """

    def __init__(self, dataset: grain.MapDataset, read_options: grain.ReadOptions,
                 settings: dict[str, Any]):
        self._dataset = dataset
        self._iterator = dataset.to_iter_dataset(read_options).__iter__()
        self._settings = settings

    def __iter__(self) -> DataIterator:
        return self

    def __next__(self) -> Batch:
        return next(self._iterator)

    def __len__(self) -> int:
        """Batches per process in total (a huge number when epochs are unlimited)."""
        return len(self._dataset)

    def get_state(self) -> dict[str, Any]:
        return {"iterator": self._iterator.get_state(), **self._settings}

    def set_state(self, state: dict[str, Any]) -> None:
        mismatched = {k: (state.get(k), v) for k, v in self._settings.items() if state.get(k) != v}
        if mismatched:
            detail = ", ".join(f"{k}: state {a!r} vs pipeline {b!r}" for k, (a, b) in mismatched.items())
            raise ValueError(f"Iterator state is from a different pipeline ({detail}).")
        self._iterator.set_state(state["iterator"])

    def close(self) -> None:
        self._iterator.close()


def _process_layout(process_index: int | None, process_count: int | None) -> tuple[int, int]:
    if process_index is None or process_count is None:
        import jax  # pylint: disable=g-import-not-at-top

        process_index = jax.process_index() if process_index is None else process_index
        process_count = jax.process_count() if process_count is None else process_count
    if not 0 <= process_index < process_count:
        raise ValueError(f"process_index={process_index} not in [0, process_count={process_count})")
    return process_index, process_count


def make_pipeline(
    source: Sequence[Any],
    *,
    batch_size: int,
    seed: int,
    transforms: Sequence[grain.transforms.Map | grain.transforms.RandomMap | Callable] = (),
    shuffle: bool = True,
    num_epochs: int | None = None,
    process_index: int | None = None,
    process_count: int | None = None,
    drop_remainder: bool = True,
    read_options: grain.ReadOptions | None = None,
) -> DataIterator:
    """Batches of this process's share of `source`, as dicts of numpy arrays [batch_size, ...].

    Args:
        source: random-access records (`len`, `__getitem__`), e.g. from `get_source`.
        batch_size: records per batch on this process (global batch = batch_size * process_count).
        seed: non-negative int; fixes the shuffle of every epoch and every random transform.
        transforms: applied in order to each record; `grain.transforms.RandomMap` instances get a
            per-record generator, anything else is a `Map` or a plain function.
        shuffle: reshuffle every epoch (else source order).
        num_epochs: passes over the source; None repeats forever.
        process_index, process_count: default `jax.process_index()`, `jax.process_count()`.
        drop_remainder: with finite epochs, every process yields the same number of full batches
            (the stream is cut to a multiple of the global batch); otherwise the last batches are
            partial and processes may differ by one batch.
        read_options: grain threads / prefetch depth (default 2 threads, 4 batches ahead).

    Returns:
        A `DataIterator` (also `get_state`, `set_state`, `len`).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if num_epochs is not None and num_epochs < 1:
        raise ValueError(f"num_epochs must be >= 1 or None, got {num_epochs}")
    if len(source) == 0:
        raise ValueError("source is empty")
    process_index, process_count = _process_layout(process_index, process_count)

    ds = grain.MapDataset.source(source).seed(int(seed))
    if shuffle:
        ds = ds.shuffle()  # Epoch e uses seed + e: a new order each epoch.
    ds = ds.repeat(num_epochs)
    for transform in transforms:
        random = isinstance(transform, grain.transforms.RandomMap)
        ds = ds.random_map(transform) if random else ds.map(transform)
    global_batch = batch_size * process_count
    if num_epochs is not None and drop_remainder:
        ds = ds[: len(ds) // global_batch * global_batch]
    ds = ds[process_index::process_count]
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)

    settings = {"seed": int(seed), "batch_size": batch_size, "process_count": process_count,
                "num_records": len(source), "shuffle": shuffle, "num_epochs": num_epochs,
                "drop_remainder": drop_remainder}
    read_options = read_options or grain.ReadOptions(num_threads=2, prefetch_buffer_size=4)
    return DataIterator(ds, read_options, settings)
