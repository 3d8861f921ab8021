"""Errors that mean "the input is wrong", as opposed to a bug.

Every command line (`python -m experiments.<study>.main`, `experiments.sweep`, the metrics and
tracking CLIs) prints a `UserError` as one line, `error: <message>`, and exits with status 2; any
other exception is a bug and keeps its traceback. Each message names the input that is wrong (the
config key and value, the file, the array and its shape) and, where there is one, what would be
accepted. The classes also derive from the builtin a caller would expect (`ValueError`,
`FileNotFoundError`), so library code that catches those keeps working.
"""


class UserError(Exception):
    """Bad input from the user (config, flag, file, image): a message, exit status 2, no traceback."""


class ConfigError(UserError, ValueError):
    """A config key or value that cannot be used; the message names the key and the value."""


class ConfigChangeError(ConfigError):
    """A workdir holds a run with another config; `differences` lists (key, stored value, new value)."""

    def __init__(self, message: str, differences: list[tuple[str, object, object]]):
        super().__init__(message)
        self.differences = differences


class InputError(UserError, ValueError):
    """A file, folder or array given as input is unusable; the message names it and why."""


class MissingInputError(UserError, FileNotFoundError):
    """A file or folder given as input does not exist."""


class WorkdirError(UserError, OSError):
    """The workdir cannot be used (not a directory, not writable, holds unreadable run files)."""


class UnknownNameError(UserError, ValueError):
    """A name (dataset, feature extractor, field, loss, tracker, ...) that no registry knows."""
