"""The run lifecycle every trainer calls, top to bottom (a library, not a framework with hooks):

    run = Run(config, workdir, batch_keys=("batch_size",))   # validates; the workdir is not touched
    setup = make_setup(config)                               # the trainer's own validation, still read-only
    state = run.init(lambda rng: init_state(setup, rng))     # created sharded, from stream 'init'
    state = run.restore(state, data=pipeline)                # config check → restore → config.json, writers
    for step in run.steps():                                 # progress bar, training clock
        state, metrics = train_step(state, run.global_batch(next(pipeline)), run.root)
        run.record(step, metrics)                            # metrics.jsonl / TensorBoard when due; NaN guard
        run.checkpoint(step, state, data=pipeline)           # when due; never a non-finite state
    with run.paused(state):                                  # evaluation time is not training time
        metrics = evaluate(state)
    return run.finish(metrics, protocol, state=state)        # results.json with the protocol

What it guarantees, for every trainer (tests/train/test_lifecycle.py):
- The config is validated (run keys, finite numbers, batch sizes against the device count) before the
  workdir is touched. A workdir whose stored config differs is refused with the keys that differ and
  every file left as it was, unless `allow_config_change` is set; then the change is recorded in
  `config.json`'s history and in results.json. `config.json` is written only after that check and
  the restore.
- Re-running with the same workdir resumes from the newest checkpoint that passes its checks
  (`Checkpointer`), with the data position and the training clock, so a run killed with `kill -9`
  and resumed ends bit-identical to an uninterrupted one.
- A NaN/Inf in a logged metric or in the state stops the run with an error naming the step, the
  quantity and the last checkpoint (which is intact: nothing non-finite is ever saved).
- Randomness comes from `fold_in(fold_in(root, stream), step)` (`run.key`), never from the state.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import jax
import ml_collections
from jax.sharding import Mesh

from genvision_jax.errors import ConfigChangeError, ConfigError, WorkdirError
from genvision_jax.train import config as run_config
from genvision_jax.train.checkpoint import Checkpointer, sync_global_devices
from genvision_jax.train.loop import MetricBuffer, NonFiniteError, check_finite_tree, is_due
from genvision_jax.train.results import write_results
from genvision_jax.train.rng import root_key, stream_key
from genvision_jax.train.sharding import abstract_replicated, check_global_batch_size, create_replicated, make_mesh, \
    to_global_batch
from genvision_jax.train.writers import MetricWriter, progress

CONFIG_FILE = "config.json"


class Run:
    """One training run in `workdir` (see the module docstring).

    Args:
      config: the run's ConfigDict (`genvision_jax.train.config.run_config` keys plus the trainer's).
      workdir: where config.json, metrics.jsonl, tb/, ckpt/, images and results.json go.
      mesh: default every device of every process on a ('data',) axis.
      batch_keys: dotted config keys of global batch sizes; each must be a positive multiple of the
        device count.
      steps_per_call: training steps one call of the trainer's step function makes (a fused
        `lax.scan`); `num_steps` and `checkpoint_every` must be multiples of it.
    """

    def __init__(self, config: ml_collections.ConfigDict, workdir: str | os.PathLike, *, mesh: Mesh | None = None,
                 batch_keys: Sequence[str] = (), steps_per_call: int = 1):
        self.t_start = time.time()
        run_config.check_run_config(config)
        self.config = config
        self.config_dict = run_config.to_dict(config)
        self.name = config.trainer
        self.num_steps = int(config.num_steps)
        self.mesh = mesh if mesh is not None else make_mesh()
        self._local_batch = {key: check_global_batch_size(run_config.get_value(config, key), self.mesh, key)
                             for key in batch_keys}
        if steps_per_call < 1:
            raise ConfigError(f"steps_per_call must be >= 1, got {steps_per_call}")
        for key in ("num_steps", "checkpoint_every"):
            if config[key] % steps_per_call:
                raise ConfigError(f"{key}={config[key]} must be a multiple of {steps_per_call}, the steps fused "
                                  "into one call")
        self.steps_per_call = steps_per_call
        self.workdir = Path(workdir)
        self._check_workdir()
        self._stored_config = self._read_stored_config()
        self.root = root_key(config.seed)
        self.info: dict[str, Any] = {}
        self.start_step = 0
        self.last_checkpoint: int | None = None
        self.ckpt: Checkpointer | None = None
        self.writer: MetricWriter | None = None
        self._buffer = MetricBuffer()
        self._abstract = None
        self._train_time = 0.0
        self._first_step_seen, self._first_step_s = False, None
        self._clock: float | None = None
        self._bar = None
        self._last_log = (0, 0.0)  # (step, training time) of the last metrics row

    # ------------------------------------------------------------------------------ validation
    def _check_workdir(self) -> None:
        wd = self.workdir
        if wd.exists() and not wd.is_dir():
            raise WorkdirError(f"workdir {wd} exists and is not a directory")
        probe = wd
        while not probe.exists():
            probe = probe.parent
        if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
            raise WorkdirError(f"workdir {wd} cannot be written ({probe} is not a writable directory)")

    def _read_stored_config(self) -> dict | None:
        path = self.workdir / CONFIG_FILE
        if not path.exists():
            return None
        try:
            stored = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise WorkdirError(f"{path} is not a readable JSON config ({e}); it describes the run in this "
                               "workdir: restore it, or use another --workdir") from None
        if not isinstance(stored, dict):
            raise WorkdirError(f"{path} does not hold a config object")
        return stored.get("config", stored) if "history" in stored else stored

    def _refuse_or_record(self, stored: Mapping[str, Any], source: str) -> list:
        diffs = run_config.differences(stored, self.config_dict)
        if diffs and not self.config.get("allow_config_change", False):
            raise ConfigChangeError(
                f"workdir {self.workdir} holds a run with another config ({source}); differing keys: "
                f"{run_config.describe_differences(diffs)}. Use another --workdir, or resume with the new values "
                "by adding --config.allow_config_change=True (the change is recorded).", diffs)
        return diffs

    # ------------------------------------------------------------------------------ set-up
    def key(self, stream: str, step: int = 0) -> jax.Array:
        """The key of RNG stream `stream` at `step`: fold_in(fold_in(root, stream), step)."""
        return stream_key(self.root, stream, step)

    def local_batch(self, key: str) -> int:
        """This process's share of the global batch size at config key `key` (one of `batch_keys`)."""
        return self._local_batch[key]

    def global_batch(self, local_batch: Any) -> Any:
        """Per-process numpy batch (pytree) → global arrays split along 'data'."""
        return to_global_batch(local_batch, self.mesh)

    def init(self, init_fn: Callable[[jax.Array], Any], key: jax.Array | None = None) -> Any:
        """`init_fn(key)` run under jit with the state replicated on the mesh (key: stream 'init')."""
        key = self.key("init") if key is None else key
        self._abstract = abstract_replicated(init_fn, self.mesh, key)
        return create_replicated(init_fn, key, self.mesh)

    def restore(self, state: Any, data: Any = None) -> Any:
        """Resume from the newest usable checkpoint (or keep `state`), after refusing a changed config.

        `data` is the batch iterator (`get_state()` / `set_state()`), whose position is restored too;
        None for trainers whose batches are a function of the step. Writes config.json and opens the
        metric writers. Returns the state to train from; `start_step` and `info` are set.
        """
        diffs = self._refuse_or_record(self._stored_config, CONFIG_FILE) if self._stored_config else []
        peeked = _peek_checkpoint_config(self.workdir / "ckpt")
        if peeked is not None and not diffs:
            diffs = self._refuse_or_record(peeked[1], f"checkpoint at step {peeked[0]}")
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise WorkdirError(f"workdir {self.workdir} cannot be created: {e}") from None
        self.ckpt = Checkpointer(self.workdir / "ckpt", max_to_keep=self.config.keep_checkpoints)
        abstract = self._abstract if self._abstract is not None else jax.tree.map(
            lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state)
        restored = self.ckpt.restore_latest(abstract)
        if restored is not None:
            step, state, data_state, saved_config = restored
            if not diffs:
                diffs = self._refuse_or_record(saved_config, f"checkpoint at step {step}")
            self.start_step = self.last_checkpoint = int(step)
            self.info = dict(data_state.get("info", {}))
            self._train_time = float(self.info.get("train_time_s", 0.0))
            if data is not None:
                data.set_state(data_state["data"])
            if jax.process_index() == 0:
                print(f"resuming from step {step} in {self.ckpt.directory}", flush=True)
        if diffs:
            change = {"step": self.start_step, "changes": {k: [old, new] for k, old, new in diffs}}
            self.info.setdefault("config_changes", []).append(change)
            if jax.process_index() == 0:
                print(f"warning: resuming with a changed config: {run_config.describe_differences(diffs)}", flush=True)
        self._write_config()
        self.writer = MetricWriter(self.workdir, resume_step=self.start_step)
        self._last_log = (self.start_step, self._train_time)
        return state

    def _write_config(self) -> None:
        if jax.process_index() != 0:
            return
        path = self.workdir / CONFIG_FILE
        doc = dict(self.config_dict)
        if self.info.get("config_changes"):
            doc = {"config": doc, "history": self.info["config_changes"]}
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(doc, indent=2, sort_keys=True))
        os.replace(tmp, path)

    # ------------------------------------------------------------------------------ loop
    def steps(self) -> Iterator[int]:
        """The steps left to train (stepping by `steps_per_call`), with a progress bar and the clock running."""
        self._bar = progress(total=self.num_steps, initial=self.start_step, desc=self.name, unit="step")
        self._clock = time.time()
        try:
            for step in range(self.start_step + self.steps_per_call, self.num_steps + 1, self.steps_per_call):
                yield step
                if not self._first_step_seen:  # compiled and dispatched: what a user waits for at start
                    self._first_step_seen, self._first_step_s = True, process_age_s()
                self._bar.update(self.steps_per_call)
        finally:
            self._stop_clock()
            self._bar.close()

    @property
    def train_time_s(self) -> float:
        """Training wall time over every invocation of this run so far (evaluation and checkpoints excluded)."""
        return self._train_time + (time.time() - self._clock if self._clock is not None else 0.0)

    def _stop_clock(self) -> None:
        if self._clock is not None:
            self._train_time += time.time() - self._clock
            self._clock = None

    @contextlib.contextmanager
    def paused(self, state: Any = None):
        """Stops the training clock (after the pending work on `state` is done) for evaluations."""
        if state is not None:
            jax.block_until_ready(state)
        running = self._clock is not None
        self._stop_clock()
        try:
            yield
        finally:
            if running:
                self._clock = time.time()

    def every(self, step: int, interval: int) -> bool:
        """True at positive multiples of `interval` (0 = never)."""
        return interval > 0 and step % interval == 0

    def record(self, step: int, metrics: Mapping[str, Any]) -> None:
        """Buffer a step's on-device metrics; at `log_every` (and the last step) check them and log means."""
        self._buffer.add(step, metrics)
        if is_due(step, self.config.log_every, self.num_steps):
            self._flush(step)

    def _flush(self, step: int) -> None:
        try:
            scalars = self._buffer.flush()
        except NonFiniteError as e:
            raise e.with_checkpoint(self._checkpoint_note()) from None
        last_step, last_time = self._last_log
        now = self.train_time_s
        scalars["steps_per_s"] = (step - last_step) / max(now - last_time, 1e-9)
        self._last_log = (step, now)
        self.log(step, scalars)
        if self._bar is not None:
            shown = [k for k in scalars if "loss" in k][:3]
            self._bar.set_postfix({k: f"{scalars[k]:.4g}" for k in shown}, refresh=False)

    def log(self, step: int, scalars: Mapping[str, float]) -> None:
        """One metrics.jsonl row / TensorBoard points at `step` (evaluation results, curves)."""
        self.writer.write_scalars(step, scalars)

    def checkpoint(self, step: int, state: Any, data: Any = None, force: bool = False) -> None:
        """At `checkpoint_every` and the last step (or `force`): log what is buffered, refuse a non-finite
        state, save state + data position + run info + config."""
        if not (force or is_due(step, self.config.checkpoint_every, self.num_steps)):
            return
        with self.paused(state):
            if len(self._buffer):
                self._flush(step)
            try:
                check_finite_tree(state, "state", step)
            except NonFiniteError as e:
                raise e.with_checkpoint(self._checkpoint_note()) from None
            self.info["train_time_s"] = self.train_time_s
            self.ckpt.save(step, state, data_state={"data": data.get_state() if data is not None else None,
                                                    "info": self.info}, config=self.config_dict)
            self.last_checkpoint = step
        self._last_log = (self._last_log[0], self.train_time_s)  # saving is not training

    def _checkpoint_note(self) -> str:
        if self.last_checkpoint is None:
            return (f"No checkpoint was saved before it (checkpoint_every={self.config.checkpoint_every}), so "
                    f"{self.workdir} holds no state to resume from; lower the learning rate or check the inputs "
                    "and start again.")
        return (f"The last checkpoint, step {self.last_checkpoint} in {self.workdir / 'ckpt'}, is intact (a "
                "non-finite state is never saved); lower the learning rate or check the inputs, then re-run "
                "with the same --workdir (and --config.allow_config_change=True if the config changed) to "
                "resume from it.")

    # ------------------------------------------------------------------------------ end
    def finish(self, metrics: Mapping[str, Any], protocol: Mapping[str, Any], **outputs) -> dict[str, Any]:
        """Write results.json (metrics, protocol, config, environment, run info), close, sync processes.

        Returns {'metrics': metrics, **outputs} (e.g. `state=state` for tests and callers)."""
        self._stop_clock()
        self.writer.close()
        self.ckpt.close()
        run_info = {"start_step": self.start_step, "num_steps": self.num_steps,
                    "train_time_s": round(self.train_time_s, 3),
                    "first_step_s": None if self._first_step_s is None else round(self._first_step_s, 3),
                    "config_changes": self.info.get("config_changes", [])}
        write_results(self.workdir, metrics, protocol, self.config_dict, wall_time_s=time.time() - self.t_start,
                      run=run_info)
        sync_global_devices(f"{self.name}_done")
        return {"metrics": dict(metrics), **outputs}


def process_age_s() -> float | None:
    """Seconds since this process started (Linux /proc; None elsewhere): the time to the first step a
    user sees, interpreter start, imports and compilation included."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _peek_checkpoint_config(ckpt_dir: Path) -> tuple[int, dict] | None:
    """The config JSON of the newest committed checkpoint step, read directly (changes nothing)."""
    if not ckpt_dir.is_dir():
        return None
    steps = sorted((int(p.name) for p in ckpt_dir.iterdir() if p.name.isdigit()), reverse=True)
    for step in steps:
        try:
            return step, json.loads((ckpt_dir / str(step) / "config" / "metadata").read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
    return None
