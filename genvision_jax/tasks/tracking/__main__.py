"""`python -m genvision_jax.tasks.tracking run|evaluate ...`: the tracker and MOT-evaluation CLIs."""

import sys

from genvision_jax.tasks.tracking import evaluate, run

COMMANDS = {"run": run.main, "evaluate": evaluate.main}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m genvision_jax.tasks.tracking {{{'|'.join(COMMANDS)}}} ...", file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
