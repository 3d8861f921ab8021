"""Full-state checkpoints with Orbax: train state + data position + config, keep-last-N, verified on restore.

Safety contract:
- Orbax writes each step into a temporary directory and renames it when complete, so a crash or a
  `kill -9` mid-save leaves the previous checkpoints untouched.
- With every step Orbax also commits an integrity record: each state leaf's shape, dtype and a 32-bit
  fingerprint of its bytes, computed on the device before the save. After the save a manifest (size
  and sha256 of every file of the step) is written beside it.
- A restore takes the newest step that passes every check: its files match the manifest (when there
  is one: a kill between Orbax's commit and the manifest write leaves none), its record reads, its
  leaves have the shapes the run expects, Orbax restores it, and the restored values match their
  fingerprints and are finite. A step that fails is moved to `ckpt/corrupt/<step>-<time>` (never
  deleted) with a warning naming the step and the cause, and the previous step is tried. A step
  whose record is intact but whose shapes differ from the run's is another model's checkpoint:
  `CheckpointError`, nothing moved.
- Restores always go into an abstract target with shardings (without one Orbax returns plain lists
  and host arrays).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from genvision_jax.errors import ConfigError
from genvision_jax.train.loop import first_nonfinite

log = logging.getLogger(__name__)

_MANIFEST_DIR = "manifests"


class CheckpointError(ConfigError):
    """An intact checkpoint that does not fit this run's state (the model config changed)."""


# ------------------------------------------------------------------------------------ fingerprints


def _as_uint32(x: jax.Array) -> jax.Array:
    """The bits of any array as a flat uint32 vector (narrow types widened, 8-byte types split)."""
    if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
        x = jax.random.key_data(x)
    if x.dtype == jnp.bool_:
        return x.astype(jnp.uint32).ravel()
    size = x.dtype.itemsize
    if size == 4:
        return jax.lax.bitcast_convert_type(x, jnp.uint32).ravel()
    if size == 8:
        return jax.lax.bitcast_convert_type(x, jnp.uint32).ravel()  # [..., 2]
    narrow = {1: jnp.uint8, 2: jnp.uint16}[size]
    return jax.lax.bitcast_convert_type(x, narrow).astype(jnp.uint32).ravel()


@jax.jit
def _fingerprints(leaves: list[jax.Array]) -> list[jax.Array]:
    out = []
    for x in leaves:
        bits = _as_uint32(x)
        # Odd position weights: changing any one element always changes the sum (mod 2^32).
        weights = jnp.arange(bits.shape[0], dtype=jnp.uint32) * jnp.uint32(0x9E3779B1) | jnp.uint32(1)
        out.append(jnp.sum(bits * weights, dtype=jnp.uint32))
    return out


def state_record(state: Any) -> dict[str, dict]:
    """{leaf path: {shape, dtype, fingerprint}} of a pytree of arrays (fingerprints on the device)."""
    leaves = jax.tree_util.tree_leaves_with_path(state)
    prints = jax.device_get(_fingerprints([x for _, x in leaves])) if leaves else []
    return {jax.tree_util.keystr(path): {"shape": list(x.shape), "dtype": str(x.dtype), "fingerprint": int(f)}
            for (path, x), f in zip(leaves, prints)}


def _shape_mismatches(record: dict[str, dict], abstract: Any) -> list[str]:
    expected = {jax.tree_util.keystr(p): (list(x.shape), str(x.dtype))
                for p, x in jax.tree_util.tree_leaves_with_path(abstract)}
    saved = {k: (v["shape"], v["dtype"]) for k, v in record.items()}
    out = [f"{k}: saved {saved[k][1]}{saved[k][0]}, this run {expected[k][1]}{expected[k][0]}"
           for k in sorted(set(saved) & set(expected)) if saved[k] != expected[k]]
    out += [f"{k}: only in the checkpoint" for k in sorted(set(saved) - set(expected))]
    out += [f"{k}: not in the checkpoint" for k in sorted(set(expected) - set(saved))]
    return out


def _value_problem(record: dict[str, dict], state: Any) -> str | None:
    """Why restored values cannot be trusted (fingerprint mismatch, non-finite), or None."""
    actual = state_record(state)
    altered = [k for k, v in record.items() if actual.get(k, {}).get("fingerprint") != v["fingerprint"]]
    if altered:
        return f"restored values of {altered[0]} do not match the fingerprint saved with them (altered bytes?)"
    bad = first_nonfinite(state)
    return None if bad is None else f"{bad[0]} holds {bad[1]}"


# --------------------------------------------------------------------------------------- manifests


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _step_files(step_dir: Path) -> dict[str, dict]:
    return {
        str(p.relative_to(step_dir)): {"size": p.stat().st_size, "sha256": _file_digest(p)}
        for p in sorted(step_dir.rglob("*")) if p.is_file()
    }


class Checkpointer:
    """Save/restore `{'state': pytree, 'data': json, 'config': json}` (+ integrity record) under `directory`.

    Args:
      directory: the run's `workdir/ckpt` (created on first use).
      max_to_keep: keep the newest N checkpoints (older ones are deleted after a successful save).
    """

    def __init__(self, directory: str | os.PathLike, max_to_keep: int = 3):
        if max_to_keep < 1:
            raise ValueError(f"max_to_keep must be >= 1, got {max_to_keep}")
        self.directory = Path(directory).absolute()
        self.max_to_keep = max_to_keep
        self._mngr = self._open()

    def _open(self) -> ocp.CheckpointManager:
        return ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(
                max_to_keep=self.max_to_keep,
                create=True,
                # Synchronous saves: a save returns only once the step is committed on disk, so a
                # checkpoint we report is a checkpoint that exists.
                enable_async_checkpointing=False,
                cleanup_tmp_directories=True,
            ),
        )

    # ---------------------------------------------------------------- save
    def save(self, step: int, state: Any, data_state: Any = None, config: Any = None) -> None:
        args = ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            data=ocp.args.JsonSave(data_state if data_state is not None else {}),
            config=ocp.args.JsonSave(config if config is not None else {}),
            integrity=ocp.args.JsonSave({"leaves": state_record(state)}),
        )
        self._mngr.save(int(step), args=args, force=True)
        self._mngr.wait_until_finished()
        if jax.process_index() == 0:
            self._write_manifest(int(step))
            self._prune_manifests()
        sync_global_devices(f"checkpoint_manifest_{step}")

    def _manifest_path(self, step: int) -> Path:
        return self.directory / _MANIFEST_DIR / f"{step}.json"

    def _step_dir(self, step: int) -> Path:
        return self.directory / str(step)

    def _write_manifest(self, step: int) -> None:
        path = self._manifest_path(step)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"step": step, "files": _step_files(self._step_dir(step))}))
        os.replace(tmp, path)  # atomic: a manifest is either whole or absent

    def _prune_manifests(self) -> None:
        live = {str(s) for s in self._mngr.all_steps()}
        for p in (self.directory / _MANIFEST_DIR).glob("*.json"):
            if p.stem not in live:
                p.unlink(missing_ok=True)

    # ------------------------------------------------------------- restore
    def all_steps(self) -> list[int]:
        self._mngr.reload()
        return sorted(self._mngr.all_steps())

    def verify_files(self, step: int) -> str | None:
        """None if the step's files match its manifest (or it has none), else what is wrong."""
        step_dir = self._step_dir(step)
        if not step_dir.is_dir():
            return f"directory {step_dir} is missing"
        manifest = self._manifest_path(step)
        if not manifest.exists():
            return None  # killed before the manifest: the integrity record still checks the values
        expected = json.loads(manifest.read_text())["files"]
        actual = _step_files(step_dir)
        for name, meta in expected.items():
            if name not in actual:
                return f"file {name} is missing"
            if actual[name]["size"] != meta["size"]:
                return f"file {name} has {actual[name]['size']} bytes, expected {meta['size']} (truncated?)"
            if actual[name]["sha256"] != meta["sha256"]:
                return f"file {name} does not match its recorded sha256"
        return None

    def latest_config(self) -> tuple[int, dict] | None:
        """(step, config) stored with the newest readable checkpoint, without restoring or moving anything."""
        for step in reversed(self.all_steps()):
            try:
                return step, dict(self._mngr.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))["config"])
            except Exception:  # noqa: BLE001 — a damaged step; restore_latest reports it
                continue
        return None

    def restore_latest(self, abstract_state: Any) -> tuple[int, Any, Any, Any] | None:
        """Restore the newest step that passes every check into `abstract_state` (ShapeDtypeStructs
        with shardings). Returns `(step, state, data_state, config)`, or None when no step is usable.

        Damaged steps are logged as warnings and moved to `ckpt/corrupt/` (see the module docstring).
        On many processes, process 0 checks the files and the verdict is broadcast, so all agree; the
        other checks run on every process over the same global arrays.
        """
        self._report_deleted_steps()
        for step in reversed(self.all_steps()):
            problem = self._verify_files_everywhere(step)
            if problem is None:
                restored, problem = self._restore_checked(step, abstract_state)
                if restored is not None:
                    return step, restored["state"], restored["data"], restored["config"]
            log.warning("checkpoint at step %d in %s is unusable (%s); falling back to the previous one",
                        step, self.directory, problem)
            self._quarantine(step)
        return None

    def _restore_checked(self, step: int, abstract_state: Any):
        try:
            record = self._mngr.restore(step, args=ocp.args.Composite(integrity=ocp.args.JsonRestore()))
            record = dict(record["integrity"])["leaves"]
        except Exception as e:  # noqa: BLE001 — classified as damage
            return None, f"its integrity record is unreadable: {type(e).__name__}: {e}"[:500]
        mismatches = _shape_mismatches(record, abstract_state)
        if mismatches:
            raise CheckpointError(
                f"checkpoint at step {step} in {self.directory} is intact but does not fit this run's state "
                f"(was the model config changed?): {'; '.join(mismatches[:5])}"
                + (f"; and {len(mismatches) - 5} more" if len(mismatches) > 5 else ""))
        try:
            restored = self._mngr.restore(step, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract_state), data=ocp.args.JsonRestore(),
                config=ocp.args.JsonRestore()))
        except Exception as e:  # noqa: BLE001 — classified as damage
            return None, f"{type(e).__name__}: {e}"[:500]
        problem = _value_problem(record, restored["state"])
        return (None, problem) if problem else (restored, None)

    def _verify_files_everywhere(self, step: int) -> str | None:
        problem = self.verify_files(step) if jax.process_index() == 0 else None
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            bad = multihost_utils.broadcast_one_to_all(np.int32(problem is not None))
            if bad and problem is None:
                problem = "process 0 found its files damaged"
        return problem

    def _report_deleted_steps(self) -> None:
        """A manifest without its step directory means a saved checkpoint was deleted: say so."""
        manifests = self.directory / _MANIFEST_DIR
        if jax.process_index() != 0 or not manifests.is_dir():
            return
        live = set(self.all_steps())
        for path in sorted(manifests.glob("*.json")):
            if path.stem.isdigit() and int(path.stem) not in live:
                log.warning("checkpoint at step %s in %s is missing (its directory was deleted); "
                            "falling back to the previous one", path.stem, self.directory)
                path.unlink(missing_ok=True)

    def _quarantine(self, step: int) -> None:
        sync_global_devices(f"checkpoint_quarantine_start_{step}")
        if jax.process_index() == 0:
            dst = self.directory / "corrupt" / f"{step}-{time.time_ns()}"
            dst.parent.mkdir(parents=True, exist_ok=True)
            if self._step_dir(step).exists():
                shutil.move(str(self._step_dir(step)), str(dst))
            self._manifest_path(step).unlink(missing_ok=True)
        sync_global_devices(f"checkpoint_quarantine_{step}")
        self._mngr.close()
        self._mngr = self._open()

    def close(self) -> None:
        self._mngr.close()


def sync_global_devices(name: str) -> None:
    """Barrier across processes (no-op on one process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)
