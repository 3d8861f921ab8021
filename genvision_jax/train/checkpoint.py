"""Full-state checkpoints with Orbax: train state + data-iterator position + config, keep-last-N.

Safety contract:
- Orbax writes each step into a temporary directory and renames it when complete, so a crash or a
  `kill -9` mid-save leaves the previous checkpoints untouched.
- After each save we write a manifest (size and sha256 of every file of that step). On restore the
  newest step whose manifest verifies and whose Orbax restore succeeds wins; a truncated, edited or
  deleted newest checkpoint is reported with a warning and the previous one is used.
- Restores always go into an abstract target with shardings (without one Orbax returns plain lists
  and host arrays).
"""

import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

log = logging.getLogger(__name__)

_MANIFEST_DIR = "manifests"


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


class CheckpointError(RuntimeError):
    """A checkpoint exists but cannot be used."""


class Checkpointer:
    """Save/restore `{'state': pytree, 'data': json, 'config': json}` under `directory`.

    Args:
      directory: the run's `workdir/ckpt`.
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
        args = {"state": ocp.args.StandardSave(state)}
        args["data"] = ocp.args.JsonSave(data_state if data_state is not None else {})
        args["config"] = ocp.args.JsonSave(config if config is not None else {})
        self._mngr.save(int(step), args=ocp.args.Composite(**args), force=True)
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

    def verify(self, step: int) -> str | None:
        """None if `step` looks intact, else the reason it does not."""
        step_dir = self._step_dir(step)
        if not step_dir.is_dir():
            return f"directory {step_dir} is missing"
        manifest = self._manifest_path(step)
        if not manifest.exists():
            return None  # saved but killed before the manifest: Orbax's atomic commit still holds
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

    def restore_latest(self, abstract_state: Any) -> tuple[int, Any, Any, Any] | None:
        """Restore the newest usable checkpoint into `abstract_state` (ShapeDtypeStructs with shardings).

        Returns `(step, state, data_state, config)` or None when there is no usable checkpoint.
        Damaged newer checkpoints (missing, truncated or altered files) are logged as warnings and
        moved aside to `ckpt/corrupt/<step>-<time>` (never deleted), so the next save at that step
        cannot collide with them. An intact checkpoint that does not fit `abstract_state` (the model
        config changed) raises `CheckpointError` instead of being skipped: nothing good is discarded.
        On many processes, process 0 verifies and the verdict is broadcast, so all agree.
        """
        self._report_deleted_steps()
        for step in reversed(self.all_steps()):
            problem = self._verify_everywhere(step)
            if problem is None:
                try:
                    restored = self._mngr.restore(
                        step,
                        args=ocp.args.Composite(
                            state=ocp.args.StandardRestore(abstract_state),
                            data=ocp.args.JsonRestore(),
                            config=ocp.args.JsonRestore(),
                        ),
                    )
                    return step, restored["state"], restored["data"], restored["config"]
                except Exception as e:  # noqa: BLE001 — classified below
                    if self._manifest_path(step).exists():
                        raise CheckpointError(
                            f"checkpoint at step {step} in {self.directory} is intact but does not fit this "
                            f"run's state (was the model config changed?): {type(e).__name__}: {e}"[:2000]
                        ) from e
                    problem = f"{type(e).__name__}: {e}"[:500]
            log.warning("checkpoint at step %d in %s is unusable (%s); falling back to the previous one",
                        step, self.directory, problem)
            self._quarantine(step)
        return None

    def _verify_everywhere(self, step: int) -> str | None:
        problem = self.verify(step) if jax.process_index() == 0 else None
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            bad = multihost_utils.broadcast_one_to_all(np.int32(problem is not None))
            if bad and problem is None:
                problem = "process 0 found it damaged"
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
