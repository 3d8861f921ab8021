"""Committed results and the README tables made from them.

  python -m experiments.results publish --config experiments/<study>/configs/default.py:cpu --from SWEEP_DIR
      rebuilds the sweep's tables from its runs (`experiments.sweep --report_only`) and copies the small
      files into experiments/<study>/results/: table.json, every run's results.json as
      runs/<name>[/seed<k>].json, and the report's own JSON (race.json, motion.json, ...); no checkpoints.
  python -m experiments.results publish-run --study <study> --from WORKDIR
      the same for a study of one run: its results.json as experiments/<study>/results/results.json.
  python -m experiments.results readme [--check]
      renders every generated block of README.md and experiments/*/README.md from the committed files;
      with --check it changes nothing and exits 1 naming every block that disagrees.

A generated block in a README is

  <!-- results:STUDY:RENDERER[:key=value,...] -->
  ...markdown written by the renderer...
  <!-- /results -->

RENDERER is a function of the study's report module (`experiments.<study>.report`) or, when that has
none of the name, of this module (`grid`, `rows`, `metric_rows`, `value`, `inline`, `machine`,
`elapsed`), called as renderer(results_dir, **args) -> markdown. Every result number a README shows is
inside such a block.
"""

from __future__ import annotations

import importlib
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from genvision_jax.cli import ArgumentParser, exits_on_user_error
from genvision_jax.errors import ConfigError, InputError, MissingInputError, UserError

REPO = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"<!-- results:(?P<spec>[^>]*?) -->(?P<body>.*?)<!-- /results -->", re.DOTALL)
EXTRA_JSON = ("race.json", "motion.json")


def results_dir(study: str) -> Path:
    """experiments/<study>/results; the pseudo-study `benchmarks` is benchmarks/results."""
    if study == "benchmarks":
        return REPO / "benchmarks" / "results"
    return REPO / "experiments" / study / "results"


# ------------------------------------------------------------------------------------------------ publish


def publish_sweep(config_path: str, sweep_dir: str | Path) -> Path:
    """Rebuild a sweep's tables from its runs and copy its small result files into the study's results/."""
    from experiments import sweep

    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise MissingInputError(f"--from {sweep_dir} is not a sweep directory")
    study, module, variant = sweep.load_config_module(config_path)
    report = sweep.run_sweep(config_path, str(sweep_dir), report_only=True,
                             seeds=_seeds_of(sweep_dir / "table.json"))
    out = results_dir(study)
    if out.exists():
        shutil.rmtree(out)
    (out / "runs").mkdir(parents=True)
    shutil.copy(sweep_dir / "table.json", out / "table.json")
    for run in report["runs"]:
        base = sweep_dir / run["name"]
        for res in sorted([base / "results.json", *base.glob("seed*/results.json")]):
            if res.is_file():
                target = out / "runs" / res.parent.relative_to(sweep_dir)
                target = target.with_suffix(".json") if target.name.startswith("seed") else target / "results.json"
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(res, target)
    for name in EXTRA_JSON:
        if (sweep_dir / name).exists():
            shutil.copy(sweep_dir / name, out / name)
    return out


def _seeds_of(table_json: Path) -> list[int] | None:
    """The seeds an earlier sweep ran (from its runs' workdir names), so the rebuild looks in the same places."""
    if not table_json.exists():
        return None
    names = {Path(d).name for r in json.loads(table_json.read_text())["runs"] for d in r.get("dirs", [])}
    seeds = sorted(int(n[4:]) for n in names if n.startswith("seed") and n[4:].isdigit())
    return seeds or None


def publish_run(study: str, workdir: str | Path) -> Path:
    """A one-run study's results.json (and its report JSON) into experiments/<study>/results/."""
    workdir = Path(workdir)
    if not (workdir / "results.json").is_file():
        raise MissingInputError(f"--from {workdir} holds no results.json")
    out = results_dir(study)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(workdir / "results.json", out / "results.json")
    return out


# ------------------------------------------------------------------------------------------------ renderers


def _table(results: Path) -> dict:
    path = results / "table.json"
    if not path.is_file():
        raise MissingInputError(f"{path} does not exist (publish the study's sweep first)")
    return json.loads(path.read_text())


def _std_note(n: int) -> str:
    return f"mean ± sample std (ddof=1) over {n} seeds" if n > 1 else "one seed"


def grid(results: Path, metric: str, split: str | None = None, digits: str | None = None) -> str:
    """The sweep's rows x cols grid of `metric` (one split value), as the sweep's table.md has it."""
    from experiments import sweep

    doc = _table(results)
    n = max(r[metric]["n"] for r in doc["runs"])
    body = sweep.grid(doc["runs"], doc["table"], metric, split, None if digits is None else int(digits))
    return f"{body}\n\n_{metric}: {_std_note(n)}; source `{_relative(results / 'table.json')}`._"


def metric_rows(results: Path, run: str, metrics: str, labels: str = "", digits: str = "2",
                per_seed: str = "0") -> str:
    """One run's metrics (`metrics` separated by '+') as rows: label | mean ± sample std (n seeds)
    [| the value of each seed, with `per_seed=1`]."""
    doc = _table(results)
    row = next((r for r in doc["runs"] if r["name"] == run), None)
    if row is None:
        raise InputError(f"{results / 'table.json'} has no run {run!r}")
    names = metrics.split("+")
    shown = labels.split("+") if labels else names
    d = int(digits)
    if per_seed == "1":
        lines = ["| | mean ± std | per seed |", "|---|---|---|"]
        for label, m in zip(shown, names):
            values = row[m]["values"]
            each = ", ".join(f"{v:,.{d}f}" for v in values) if len(values) > 1 else ""
            lines.append(f"| {label} | {_mean_std(values, d)} | {each} |")
    else:
        lines = ["| | value |", "|---|---|"]
        for label, m in zip(shown, names):
            lines.append(f"| {label} | {_mean_std(row[m]['values'], d)} |")
    n = max(row[m]["n"] for m in names)
    return "\n".join(lines) + f"\n\n_{_std_note(n)}; source `{_relative(results / 'table.json')}`._"


def rows(results: Path, metrics: str, labels: str = "", digits: str = "", key: str = "") -> str:
    """Every run of the sweep as a row (its `key` label, default the run name) and `metrics` (separated by
    '+') as columns headed by `labels`; `digits` per metric separated by '+' (default the TABLE's)."""
    doc = _table(results)
    names = metrics.split("+")
    shown = labels.split("+") if labels else names
    default = doc["table"].get("digits", {})
    places = [int(x) for x in digits.split("+")] if digits else [default.get(m, 2) for m in names]
    first = key or "run"
    lines = [f"| {first} | " + " | ".join(shown) + " |", "|---" * (len(names) + 1) + "|"]
    for row in doc["runs"]:
        cells = [("n/a" if m not in row else _mean_std(row[m]["values"], d) if isinstance(row[m], dict)
                  else str(row[m])) for m, d in zip(names, places)]  # a metric, or a label of the run
        lines.append(f"| {row[key] if key else row['name']} | " + " | ".join(cells) + " |")
    n = max(row[m]["n"] for row in doc["runs"] for m in names if isinstance(row.get(m), dict))
    return "\n".join(lines) + f"\n\n_{_std_note(n)}; source `{_relative(results / 'table.json')}`._"


def inline(results: Path, metric: str, digits: str = "", key: str = "", std: str = "0") -> str:
    """Every run's `metric` in one line: 'name value, name value, ...' (mean; ± sample std with std=1)."""
    doc = _table(results)
    d = int(digits) if digits else doc["table"].get("digits", {}).get(metric, 2)
    parts = []
    for row in doc["runs"]:
        values = row[metric]["values"]
        shown = _mean_std(values, d) if std == "1" else (f"{np.mean(values):,.{d}f}" if values else "—")
        parts.append(f"{row[key] if key else row['name']} {shown}")
    return ", ".join(parts)


def value(results: Path, run: str, metric: str, digits: str = "2", std: str = "1") -> str:
    """Inline `mean ± std` (or the single value) of one run's metric."""
    doc = _table(results)
    row = next((r for r in doc["runs"] if r["name"] == run), None)
    if row is None:
        raise InputError(f"{results / 'table.json'} has no run {run!r}")
    values = row[metric]["values"]
    return _mean_std(values, int(digits)) if std == "1" else f"{np.mean(values):,.{int(digits)}f}"


def machine(results: Path) -> str:
    """Where the study's committed runs were measured: CPU model, JAX devices, jax version, git commit(s)."""
    files = sorted(results.rglob("*.json"))
    envs = []
    for path in files:
        doc = json.loads(path.read_text())
        if isinstance(doc, dict) and isinstance(doc.get("environment"), dict):
            envs.append(doc["environment"])
    if not envs:
        raise MissingInputError(f"{results} holds no results.json with an environment (publish the study first)")
    described = set()
    for env in envs:
        jax_version = (env.get("packages") or {}).get("jax")
        described.add(f"{env.get('cpu_model') or 'unknown CPU'} ({env.get('host_cpu_count')} cores), "
                      f"{env.get('device_count')} JAX {env.get('platform')} device(s), jax {jax_version}")
    commits = sorted({(env.get("git_commit") or "unknown")[:12] for env in envs})
    return "; ".join(sorted(described)) + f"; code {', '.join(commits)}"


def elapsed(results: Path) -> str:
    """How long the sweep took: runs, their summed wall time, and the elapsed time with its workers."""
    doc = _table(results)
    text = (f"{len(doc['runs'])} runs, {doc['total_wall_time_s'] / 60:.1f} min of summed run wall time "
            f"(training and evaluation)")
    if doc.get("sweep_elapsed"):
        e = doc["sweep_elapsed"]
        text += f", {e['seconds'] / 60:.1f} min elapsed with {e['workers']} worker process(es)"
    return text


def _mean_std(values: list[float], digits: int) -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:,.{digits}f}"
    return f"{np.mean(values):,.{digits}f} ± {np.std(values, ddof=1):,.{digits}f}"


def _relative(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


# ------------------------------------------------------------------------------------------------ READMEs


def readme_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "experiments").glob("*/README.md")), REPO / "benchmarks" / "README.md"]


GENERIC = ("grid", "rows", "metric_rows", "value", "inline", "machine", "elapsed")


def _renderer(study: str, name: str) -> Callable[..., str]:
    """The study's report module's `name` when it has one (a study may render its own way), else ours."""
    module = "benchmarks.report" if study == "benchmarks" else f"experiments.{study}.report"
    if (REPO / module.replace(".", "/")).with_suffix(".py").is_file() and hasattr(importlib.import_module(module), name):
        return getattr(importlib.import_module(module), name)
    if name in GENERIC:
        return globals()[name]
    raise ConfigError(f"results block {study}:{name}: no renderer {name!r} in {module} or {__name__}")


def render_block(spec: str) -> str:
    """The markdown of one block `STUDY:RENDERER[:key=value,...]`."""
    study, _, rest = spec.strip().partition(":")
    name, _, args = rest.partition(":")
    kwargs = dict(a.split("=", 1) for a in args.split(",") if a) if args else {}
    return _renderer(study, name)(results_dir(study), **kwargs)


def render_readme(text: str, problems: list[str] | None = None) -> str:
    """`text` with every generated block re-rendered (blocks on one line stay inline). With `problems`, a
    block that cannot be rendered (its results are not published) is left as it is and named there."""
    def replace(match: re.Match) -> str:
        try:
            body = render_block(match["spec"])
        except UserError as e:
            if problems is None:
                raise
            problems.append(f"block results:{match['spec']} cannot be rendered: {e}")
            return match.group(0)
        inline = "\n" not in match["body"]
        sep = "" if inline else "\n"
        return f"<!-- results:{match['spec']} -->{sep}{body}{sep}<!-- /results -->"
    return BLOCK.sub(replace, text)


def check_readmes() -> list[str]:
    """Problems: every README block whose text differs from what its committed results render."""
    problems = []
    for path in readme_files():
        text = path.read_text()
        for match in BLOCK.finditer(text):
            unrenderable: list[str] = []
            expected = render_readme(match.group(0), unrenderable)
            problems += [f"{path.relative_to(REPO)}: {p}" for p in unrenderable]
            if not unrenderable and expected != match.group(0):
                problems.append(f"{path.relative_to(REPO)}: block results:{match['spec']} differs from its "
                                f"committed JSON (run `python -m experiments.results readme`)")
    return problems


@exits_on_user_error
def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m experiments.results", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("publish")
    p.add_argument("--config", required=True)
    p.add_argument("--from", dest="source", required=True)
    p = sub.add_parser("publish-run")
    p.add_argument("--study", required=True)
    p.add_argument("--from", dest="source", required=True)
    p = sub.add_parser("readme")
    p.add_argument("--check", action="store_true")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "publish":
        print(f"wrote {publish_sweep(args.config, args.source)}")
    elif args.command == "publish-run":
        print(f"wrote {publish_run(args.study, args.source)}")
    elif args.check:
        problems = check_readmes()
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    else:
        problems = []
        for path in readme_files():
            text, mine = path.read_text(), []
            new = render_readme(text, mine)
            problems += [f"{path.relative_to(REPO)}: {p}" for p in mine]
            if new != text:
                path.write_text(new)
                print(f"updated {path.relative_to(REPO)}")
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
