"""The command line every study shares: parse and validate, set up the processes, run the config's trainer.

  python -m experiments.<study>.main --config experiments/<study>/configs/default.py:<variant> --workdir DIR \\
      [--config.key=value ...] [--coordinator_address=HOST:PORT --num_processes=N --process_id=I] \\
      [--local_cpu_devices=N] [--verbosity=0]

The config names its trainer (`config.trainer`: `genvision_jax.tasks.<trainer>.train_and_evaluate`).
Overrides are typed by the value the key holds (`--config.eval.metrics="('fid', 'kid')"` for tuples).
Re-running with the same --workdir resumes from the last checkpoint; a changed config is refused
unless `--config.allow_config_change=True`.

Exit status: 0 done; 2 bad input (one line `error: ...` naming it: flag, config key or value, file,
workdir, device count); 1 the run stopped on a NaN/Inf (the message names step, quantity and the last
checkpoint). Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from genvision_jax.errors import ConfigError, MissingInputError, UnknownNameError, UserError
from genvision_jax.train import config as run_config

USAGE = ("usage: python -m experiments.<study>.main --config PATH.py[:VARIANT] --workdir DIR "
         "[--config.KEY=VALUE ...] [--coordinator_address=HOST:PORT --num_processes=N --process_id=I] "
         "[--local_cpu_devices=N] [--verbosity=N]")
FLAGS = {"config": str, "workdir": str, "coordinator_address": str, "num_processes": int, "process_id": int,
         "local_cpu_devices": int, "verbosity": int}


def load_config_module(path: str, what: str = "--config"):
    """The Python module of a config file (its own name, so configs of several studies can coexist)."""
    p = Path(path)
    if p.suffix != ".py":
        raise ConfigError(f"{what}={path!r}: expected a Python config file (PATH.py[:VARIANT])")
    if not p.is_file():
        raise MissingInputError(f"{what}: config file {path!r} does not exist")
    spec = importlib.util.spec_from_file_location(f"_config_{abs(hash(p.resolve()))}", p)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except (SyntaxError, ImportError) as e:
        raise ConfigError(f"{what}: config file {path} cannot be loaded: {type(e).__name__}: {e}") from None
    if not hasattr(module, "get_config"):
        raise ConfigError(f"{what}: {path} defines no get_config(variant)")
    return module


def load_config(spec: str, what: str = "--config"):
    """'PATH.py[:VARIANT]' -> (config, module, variant); bad files and variants are ConfigErrors."""
    path, _, variant = spec.partition(":")
    module = load_config_module(path, what)
    try:
        config = module.get_config(variant) if variant else module.get_config()
    except UserError:
        raise
    except (ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{what}={spec}: {e}") from None
    return config, module, variant


def parse_flags(argv: Sequence[str], kinds: dict[str, type], usage: str, switches: Sequence[str] = (),
                prefixed: str | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """`--name=value` / `--name value` arguments into ({name: typed value}, {suffix: text} of the
    `--<prefixed>.suffix` ones); `switches` may stand alone. Bad arguments are ConfigErrors."""
    flags: dict[str, Any] = {}
    prefixed_values: dict[str, str] = {}
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-h", "--help", "--helpshort", "--helpfull"):
            raise HelpRequested()
        if not arg.startswith("--"):
            raise ConfigError(f"unexpected argument {arg!r}; {usage}")
        name, eq, value = arg[2:].partition("=")
        if name in switches:
            flags[name] = value.lower() not in ("false", "0", "no") if eq else True
            i += 1
            continue
        known = name in kinds or (prefixed is not None and name.startswith(prefixed + "."))
        if not known:
            names = ", ".join("--" + f for f in (*kinds, *switches)) + (f", --{prefixed}.KEY" if prefixed else "")
            raise ConfigError(f"unknown flag --{name}; flags: {names}")
        if not eq:
            if i + 1 >= len(args) or args[i + 1].startswith("--"):
                raise ConfigError(f"--{name} needs a value (--{name}=VALUE)")
            i, value = i + 1, args[i + 1]
        if name in kinds:
            try:
                flags[name] = kinds[name](value)
            except ValueError:
                raise ConfigError(f"--{name}={value!r}: expected {kinds[name].__name__}") from None
        else:
            prefixed_values[name[len(prefixed) + 1:]] = value
        i += 1
    for required in ("config", "workdir"):
        if not flags.get(required):
            raise ConfigError(f"--{required} is required; {usage}")
    return flags, prefixed_values


def parse_args(argv: Sequence[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """(flags, config overrides) of a study invocation; bad arguments are ConfigErrors."""
    return parse_flags(argv, FLAGS, USAGE, prefixed="config")


class HelpRequested(Exception):
    pass


def build_config(spec: str, overrides: dict[str, str]):
    """The config of `spec` with command-line overrides applied (typed by the values they replace)."""
    config, _, _ = load_config(spec)
    config = config.copy_and_resolve_references()
    for dotted, text in overrides.items():
        run_config.set_value(config, dotted, run_config.parse_value(dotted, run_config.get_value(config, dotted),
                                                                    text))
    return config


def trainer_of(config) -> Callable:
    """`train_and_evaluate` of the family trainer the config names (`config.trainer`)."""
    name = config.get("trainer") if hasattr(config, "get") else None
    if not isinstance(name, str) or not name:
        raise ConfigError("the config names no trainer (config.trainer; see genvision_jax.train.config.run_config)")
    if importlib.util.find_spec(f"genvision_jax.tasks.{name}") is None:
        raise UnknownNameError(f"config.trainer={name!r}: no module genvision_jax.tasks.{name}")
    return importlib.import_module(f"genvision_jax.tasks.{name}").train_and_evaluate


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one study invocation; returns the exit status (see the module docstring)."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        flags, overrides = parse_args(argv)
        config = build_config(flags["config"], overrides)
        run_config.check_run_config(config)
        train = trainer_of(config)
        _set_up_process(flags)
        result = train(config, flags["workdir"])
    except HelpRequested:
        print(__doc__)
        return 0
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except FloatingPointError as e:  # NonFiniteError: the run diverged; the message says what to do
        print(f"error: {e}", file=sys.stderr)
        return 1
    import jax

    if jax.process_index() == 0:
        print(json.dumps({"workdir": flags["workdir"], **_printable(result["metrics"])}, indent=2, default=str))
    return 0


def _set_up_process(flags: dict[str, Any]) -> None:
    """Multi-host initialization (before any JAX work), logging, the persistent compilation cache."""
    from absl import logging

    from genvision_jax.train.runtime import enable_compilation_cache, initialize_distributed

    initialize_distributed(flags.get("coordinator_address"), flags.get("num_processes"), flags.get("process_id"),
                           flags.get("local_cpu_devices"))
    # Orbax logs every save at INFO; --verbosity=0 shows it.
    logging.set_verbosity(flags["verbosity"] if "verbosity" in flags else logging.WARNING)
    enable_compilation_cache()


def _printable(metrics: dict) -> dict:
    """Scalars and short lists of the metrics (per-view lists and nested tables stay in results.json)."""
    return {k: v for k, v in metrics.items() if not isinstance(v, (dict, list)) or len(json.dumps(v)) < 200}


def run(module_name: str) -> None:
    """The body of every study's main.py: `run(__name__)` runs `main()` when executed as a script."""
    if module_name == "__main__":
        sys.exit(main())
