"""DCGAN experiment entry point.

  python -m experiments.dcgan.main --config experiments/dcgan/configs/default.py:cpu --workdir DIR \
      [--config.num_steps=...] [--coordinator_address=HOST:PORT --num_processes=N --process_id=I]

Re-running with the same --workdir resumes from the last checkpoint.
"""

import json

import jax
from absl import app, flags, logging
from ml_collections import config_flags

from genvision_jax.train.runtime import enable_compilation_cache, initialize_distributed

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Config file, e.g. experiments/dcgan/configs/default.py:cpu",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics, samples and results.json.")
flags.DEFINE_string("coordinator_address", None, "Multi-host: address of process 0 (or JAX_COORDINATOR_ADDRESS).")
flags.DEFINE_integer("num_processes", None, "Multi-host: number of processes (or JAX_NUM_PROCESSES).")
flags.DEFINE_integer("process_id", None, "Multi-host: this process's index (or JAX_PROCESS_ID).")
flags.DEFINE_integer("local_cpu_devices", None, "Number of CPU devices this process exposes (CPU testing).")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    initialize_distributed(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id,
                           FLAGS.local_cpu_devices)
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # Orbax logs every save at INFO; pass -v 0 to see it
    enable_compilation_cache()
    from experiments.dcgan.train import train_and_evaluate  # after the runtime is configured

    result = train_and_evaluate(FLAGS.config, FLAGS.workdir)
    if jax.process_index() == 0:
        print(json.dumps({"workdir": FLAGS.workdir, **result["metrics"]}, indent=2))


if __name__ == "__main__":
    app.run(main)
