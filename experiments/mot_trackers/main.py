"""Tracker study entry point: SORT vs DeepSORT vs ByteTrack on the synthetic MOT benchmark.

  python -m experiments.mot_trackers.main --config experiments/mot_trackers/configs/default.py:cpu --workdir DIR \
      [--config.benchmark.sequences_per_level=...]

Re-running with the same --workdir resumes the ReID training from its last checkpoint (or reuses the
finished ReID network) and recomputes the benchmark, which is deterministic.
"""

from absl import app, flags, logging
from ml_collections import config_flags

from genvision_jax.train.runtime import enable_compilation_cache

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Config file, e.g. experiments/mot_trackers/configs/default.py:cpu",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for the ReID checkpoints, metrics, table and results.json.")
flags.DEFINE_integer("local_cpu_devices", None, "Number of CPU devices this process exposes (CPU testing).")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if FLAGS.local_cpu_devices:
        import jax  # pylint: disable=g-import-not-at-top

        jax.config.update("jax_num_cpu_devices", int(FLAGS.local_cpu_devices))
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # Orbax logs every save at INFO
    enable_compilation_cache()
    from experiments.mot_trackers.study import run_study  # after the runtime is configured
    from genvision_jax.tracking import limit_blas_threads

    limit_blas_threads()  # the trackers' small host matrix products; JAX's own threads are unaffected

    run_study(FLAGS.config, FLAGS.workdir)


if __name__ == "__main__":
    app.run(main)
