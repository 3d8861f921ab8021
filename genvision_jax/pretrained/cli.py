"""`python -m genvision_jax.pretrained list|convert|check [NAME ...]`: the real networks this machine has.

    list      every packaged network: its package, whether it is installed, the pinned sha256, licence
    convert   hash-check and convert (or re-convert with --refresh) into the .npz cache; prints the path
    check     hash-check, convert afresh and run the network's self-check on real photos (parity
              against the package's own model where that model's library is installed)

NAME defaults to every packaged network; `--json` prints machine-readable output. Exit status 2 for
bad input (an unknown name, a package that is not installed, a file whose hash differs from the pin),
1 when a self-check fails.
"""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Sequence

from genvision_jax.cli import ArgumentParser, exits_on_user_error
from genvision_jax.errors import UnknownNameError
from genvision_jax.pretrained import packaged


def _parser() -> ArgumentParser:
    p = ArgumentParser(prog="python -m genvision_jax.pretrained",
                       description="Real pretrained networks carried inside PyPI packages: list, convert, check.")
    p.add_argument("command", choices=("list", "convert", "check"))
    p.add_argument("names", nargs="*", help="networks (default: all); see `list`")
    p.add_argument("--refresh", action="store_true", help="convert: rebuild the cache entry")
    p.add_argument("--json", action="store_true", help="print JSON")
    return p


def _selected(names: Sequence[str]) -> list[packaged.PackagedWeights]:
    registry = packaged.discover()
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise UnknownNameError(f"unknown network(s) {unknown}; packaged networks: {sorted(registry)}")
    return [registry[n] for n in (names or sorted(registry))]


def _row(w: packaged.PackagedWeights, converter_version: int | None) -> dict:
    row = {"name": w.name, "package": w.package, "install": w.install_hint(), "sha256": w.sha256,
           "licence": w.licence, "network": w.network, "installed": w.available()}
    if row["installed"]:
        row["file"] = str(w.path())
    if converter_version is not None:
        cache = w.cache_path(converter_version)
        row["cache"] = str(cache) if cache.is_file() else None
    return row


def _converter_version(w: packaged.PackagedWeights) -> int:
    return packaged.LOADERS[w.name][1]


def _load(w: packaged.PackagedWeights, use_cache: bool):
    return packaged.LOADERS[w.name][0](use_cache=use_cache)


@exits_on_user_error
def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_intermixed_args(argv)
    selected = _selected(args.names)
    if args.command == "list":
        rows = [_row(w, _converter_version(w)) for w in selected]
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            for r in rows:
                state = "installed" if r["installed"] else f"not installed ({r['install']})"
                cache = f", cached at {r['cache']}" if r.get("cache") else ""
                print(f"{r['name']}: {r['network']}\n  {r['package']} [{r['licence']}], {state}{cache}\n"
                      f"  sha256 {r['sha256']}")
        return 0
    for w in selected:
        w.verified_path()  # not installed, or not the pinned bytes: one message naming it (exit 2)
    if args.command == "convert":
        rows = []
        for w in selected:
            if args.refresh:
                w.cache_path(_converter_version(w)).unlink(missing_ok=True)
            with contextlib.redirect_stdout(sys.stderr):
                _load(w, use_cache=True)
            rows.append({"name": w.name, "cache": str(w.cache_path(_converter_version(w)))})
        print(json.dumps(rows, indent=2) if args.json else "\n".join(f"{r['name']}: {r['cache']}" for r in rows))
        return 0
    results = {}
    for w in selected:
        with contextlib.redirect_stdout(sys.stderr):  # reference libraries print progress
            results[w.name] = packaged.SELF_CHECKS[w.name]()
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for name, r in results.items():
            print(f"{name}: {'ok' if r['passed'] else 'FAILED'}  {json.dumps(r['checks'])}")
    return 0 if all(r["passed"] for r in results.values()) else 1
