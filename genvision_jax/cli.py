"""What every command line of the project shares: bad input is one line on stderr and exit status 2.

    parser = ArgumentParser(prog="python -m genvision_jax.metrics", ...)   # usage errors raise UserError

    @exits_on_user_error
    def main(argv=None) -> int: ...                                      # UserError -> "error: ...", 2

Anything that is not a `genvision_jax.errors.UserError` is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import functools
import sys
from typing import Callable

from genvision_jax.errors import UserError


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose usage errors (unknown flag, bad type, missing argument) raise UserError."""

    def error(self, message: str):
        raise UserError(f"{message} (see {self.prog} --help)")


def exits_on_user_error(main: Callable[..., int]) -> Callable[..., int]:
    """Wraps a CLI `main(argv) -> int`: a UserError prints `error: <message>` and returns 2."""

    @functools.wraps(main)
    def wrapped(*args, **kwargs) -> int:
        try:
            return main(*args, **kwargs)
        except UserError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2

    return wrapped
