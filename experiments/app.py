"""The absl entry point every study shares: flags, distributed set-up, compile cache, then the study's
`train_and_evaluate(config, workdir)`.

  python -m experiments.<study>.main --config experiments/<study>/configs/default.py:<variant> --workdir DIR \
      [--config.key=value ...] [--coordinator_address=HOST:PORT --num_processes=N --process_id=I]

Re-running with the same --workdir resumes from the last checkpoint.
"""

import importlib
import json

import jax
from absl import app, flags, logging
from ml_collections import config_flags

from genvision_jax.train.runtime import enable_compilation_cache, initialize_distributed

FLAGS = flags.FLAGS


def _define_flags() -> None:
    config_flags.DEFINE_config_file("config", None, "Config file, e.g. experiments/dcgan/configs/default.py:cpu",
                                    lock_config=True)
    flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics, samples and results.json.")
    flags.DEFINE_string("coordinator_address", None, "Multi-host: address of process 0 (or JAX_COORDINATOR_ADDRESS).")
    flags.DEFINE_integer("num_processes", None, "Multi-host: number of processes (or JAX_NUM_PROCESSES).")
    flags.DEFINE_integer("process_id", None, "Multi-host: this process's index (or JAX_PROCESS_ID).")
    flags.DEFINE_integer("local_cpu_devices", None, "Number of CPU devices this process exposes (CPU testing).")
    flags.mark_flags_as_required(["config", "workdir"])


def run(study: str) -> None:
    """Runs `experiments.<study>.train.train_and_evaluate` under absl with the standard flags."""
    _define_flags()

    def main(argv):
        if len(argv) > 1:
            raise app.UsageError(f"unexpected arguments: {argv[1:]}")
        initialize_distributed(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id,
                               FLAGS.local_cpu_devices)
        if not FLAGS["verbosity"].present:
            logging.set_verbosity(logging.WARNING)  # Orbax logs every save at INFO; pass -v 0 to see it
        enable_compilation_cache()
        # Imported after the runtime is configured (jax.distributed must come before any JAX work).
        train = importlib.import_module(f"experiments.{study}.train")
        result = train.train_and_evaluate(FLAGS.config, FLAGS.workdir)
        if jax.process_index() == 0:
            print(json.dumps({"workdir": FLAGS.workdir, **result["metrics"]}, indent=2, default=str))

    app.run(main)
