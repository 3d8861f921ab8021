"""Run a study's sweep and tabulate it: one workdir per variant (and seed), then table.md/table.json/plots.

  python -m experiments.sweep --config experiments/<study>/configs/default.py:<variant> --workdir DIR \
      [--only SUBSTRING] [--seeds 0,1,2] [--report_only] [--workers N]

The config module provides `get_config(variant)` (whose `trainer` trains every run),
`get_sweep(variant)` -> [{name, labels, overrides}] and `TABLE` = {metrics, rows, cols, split[, curves]}
naming the label keys that index the table. A variant whose workdir holds `results.json` is not run
again, so an interrupted sweep resumes; a variant that fails (e.g. diverges) is recorded in `FAILED`
and shown as such in the table instead of stopping the sweep. Studies whose runs train several seeds
at once set `num_seeds` in their config and report `<metric>_per_seed`; otherwise every variant runs
once per `--seeds` entry (workdir `<name>/seed<k>`). Cells are mean ± sample standard deviation
(ddof=1) over seeds. The study's report module (`REPORT` in the config module, default
`experiments.<study>.report`, when it exists) may define `plot_sweep(runs, out_dir)` for its own
figures; `TABLE['curves']` names metrics of `metrics.jsonl` plotted against step, mean over seeds
(log y axis unless `TABLE['curves_yscale']` says otherwise).

`--workers N` trains with N worker processes that pull runs from the shared list (a run is claimed by
creating `<workdir>/.claims/<run>` exclusively), for hosts where one small run leaves cores idle; the
tables are written once all workers are done, with the sweep's elapsed wall time next to the summed
per-run wall time.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from experiments.app import load_config_module as _load_module
from experiments.app import HelpRequested, parse_flags, trainer_of
from genvision_jax.errors import ConfigError, UserError, WorkdirError
from genvision_jax.train.config import apply_overrides


def load_config_module(path_and_variant: str):
    """'experiments/<study>/configs/<file>.py:<variant>' -> (study, module, variant)."""
    path, _, variant = path_and_variant.partition(":")
    module = _load_module(path)
    parts = Path(path).resolve().parts
    if "experiments" not in parts or parts[-2] != "configs":
        raise ConfigError(f"--config must be experiments/<study>/configs/<file>.py, got {path!r}")
    study = parts[parts.index("experiments") + 1]
    for attr in ("get_sweep", "TABLE"):
        if not hasattr(module, attr):
            raise ConfigError(f"{path} defines no {attr}; a sweepable config needs get_config, get_sweep and TABLE")
    return study, module, variant or "cpu"


def report_module(study: str, module):
    """The study's report module (`REPORT` of its config module, default experiments.<study>.report), or None."""
    name = getattr(module, "REPORT", f"experiments.{study}.report")
    return importlib.import_module(name) if importlib.util.find_spec(name) is not None else None


def _claim(root: Path, run_dir: Path) -> bool:
    """Atomically claim a run for this worker process (False when another worker has it)."""
    claim = root / ".claims" / str(run_dir.relative_to(root)).replace(os.sep, "__")
    claim.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        return False


def _train_runs(study: str, base, sweep: list[dict], seeds: list[int], vmapped_seeds: bool, root: Path,
                claim: bool) -> None:
    """Train every run of `sweep` without results.json (only the ones this worker claims when `claim`), each with
    the trainer its own config names (an entry may switch `trainer`)."""
    for entry in sweep:  # every entry's trainer exists, before anything trains
        trainer_of(apply_overrides(base, entry["overrides"]))
    for i, entry in enumerate(sweep):
        for seed in seeds:
            wd = root / entry["name"] if vmapped_seeds else root / entry["name"] / f"seed{seed}"
            if (wd / "results.json").exists() or (claim and not _claim(root, wd)):
                continue
            config = apply_overrides(base, {**entry["overrides"], "seed": seed})
            train = trainer_of(config)
            t0 = time.time()
            print(f"[{i + 1}/{len(sweep)}] {entry['name']} seed {seed}", flush=True)
            try:
                train(config, str(wd))
                (wd / "FAILED").unlink(missing_ok=True)
            except UserError:
                raise  # bad input stops the sweep; the same input would fail every run
            except Exception as e:  # a diverged variant is a result, not the end of the sweep
                wd.mkdir(parents=True, exist_ok=True)
                (wd / "FAILED").write_text(f"{type(e).__name__}: {e}\n\n{traceback.format_exc()}")
                print(f"  failed: {type(e).__name__}: {e}", flush=True)
            print(f"  {time.time() - t0:.1f} s", flush=True)


def run_sweep(config_path: str, workdir: str, only: str = "", seeds: list[int] | None = None,
              report_only: bool = False, workers: int = 1, worker: bool = False) -> dict | None:
    """Train the sweep's missing runs (in `workers` processes), then write the tables; returns the report.

    `worker=True` is the mode of a process started by `workers > 1`: it trains the runs it claims and
    writes no table (returns None).
    """
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    study, module, variant = load_config_module(config_path)
    try:
        base = module.get_config(variant)
        entries = module.get_sweep(variant)
    except (ValueError, KeyError) as e:
        raise ConfigError(f"--config={config_path}: {e}") from None
    sweep = [v for v in entries if only in v["name"]]
    if not sweep:
        raise ConfigError(f"no sweep entry of {config_path} matches --only={only!r}; entries: "
                          f"{[v['name'] for v in entries][:20]}")
    for entry in sweep:  # every override must name a key, before anything trains
        apply_overrides(base, entry["overrides"])
    vmapped_seeds = "num_seeds" in base
    seeds = [base.seed] if vmapped_seeds else (seeds or [0, 1, 2])
    root = Path(workdir)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WorkdirError(f"sweep workdir {root} cannot be created: {e}") from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise WorkdirError(f"sweep workdir {root} is not writable")
    t_start = time.time()
    if worker:
        _train_runs(study, base, sweep, seeds, vmapped_seeds, root, claim=True)
        return None
    if not report_only and workers == 1:
        _train_runs(study, base, sweep, seeds, vmapped_seeds, root, claim=False)
    elif not report_only:
        shutil.rmtree(root / ".claims", ignore_errors=True)  # claims of an interrupted earlier sweep
        cmd = [sys.executable, "-m", "experiments.sweep", f"--config={config_path}", f"--workdir={workdir}",
               f"--only={only}", f"--seeds={','.join(map(str, seeds))}", "--worker"]
        procs = []
        for k in range(workers):
            log = open(root / f"worker{k}.log", "a")
            procs.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log))
        codes = []
        for proc, log in procs:
            codes.append(proc.wait())
            log.close()
        shutil.rmtree(root / ".claims", ignore_errors=True)
        if 2 in codes:
            raise ConfigError(f"a sweep worker stopped on bad input (exit 2); its message is in {root}/worker*.log")
        if any(codes):
            raise RuntimeError(f"sweep worker(s) exited with codes {codes}; see {root}/worker*.log")
    elapsed = time.time() - t_start
    runs = collect(root, sweep, seeds, vmapped_seeds, module.TABLE)
    report = write_tables(root, runs, module.TABLE, config_path,
                          elapsed=None if report_only else {"seconds": elapsed, "workers": workers})
    curves = module.TABLE.get("curves", [])
    if curves:
        plot_curves(root, runs, module.TABLE, curves)
    report_mod = report_module(study, module)
    if report_mod is not None and hasattr(report_mod, "plot_sweep"):
        report_mod.plot_sweep(runs, root)
    return report


def collect(root: Path, sweep: list[dict], seeds: list[int], vmapped_seeds: bool, table: dict) -> list[dict]:
    """Per variant: labels, per-seed metric values, failures, workdirs and wall time."""
    runs = []
    for entry in sweep:
        dirs = [root / entry["name"]] if vmapped_seeds else [root / entry["name"] / f"seed{s}" for s in seeds]
        values: dict[str, list[float]] = {m: [] for m in table["metrics"]}
        failed, missing, wall = [], [], 0.0
        for d in dirs:
            if (d / "FAILED").exists():
                failed.append((d / "FAILED").read_text().splitlines()[0])
                continue
            if not (d / "results.json").exists():
                missing.append(str(d))
                continue
            res = json.loads((d / "results.json").read_text())
            wall += float(res.get("wall_time_s", 0.0))
            for m in table["metrics"]:  # a metric the run did not compute (e.g. FID off) stays empty
                per_seed = res["metrics"].get(f"{m}_per_seed")
                if per_seed is None and m in res["metrics"]:
                    per_seed = [res["metrics"][m]]
                values[m].extend(per_seed or [])
        runs.append({"name": entry["name"], "labels": entry["labels"], "values": values, "failed": failed,
                     "missing": missing, "dirs": [str(d) for d in dirs], "wall_time_s": wall})
    return runs


def sample_std(values: list[float]) -> float | None:
    """Sample standard deviation (ddof=1); None for fewer than two values."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else None


def _cell(values: list[float], failed: list[str], digits: int, full_n: int) -> str:
    """'mean ± std' (sample std, ddof=1), with the seed count when fewer seeds than the table's fullest
    cell finished; a single value has no ± part."""
    if failed and not values:
        return "failed"
    if not values:
        return "—"
    s = f"{np.mean(values):.{digits}f}"
    if len(values) > 1:
        s += f" ± {sample_std(values):.{digits}f}"
    if len(values) < full_n:
        s += f" (n={len(values)})"
    return s + (f" ({len(failed)} failed)" if failed else "")


def write_tables(root: Path, runs: list[dict], table: dict, config_path: str, elapsed: dict | None = None) -> dict:
    """table.json (every number) and table.md (one rows x cols grid per split value and metric).

    `elapsed` ({seconds, workers}) is the wall time of the invocation that trained the runs; it is
    kept from an earlier table.json when the tables are rebuilt (`--report_only`).
    """
    summary = []
    for r in runs:
        row = {"name": r["name"], **r["labels"], "failed": r["failed"], "missing": r["missing"],
               "wall_time_s": r["wall_time_s"]}
        for m, v in r["values"].items():
            row[m] = {"mean": float(np.mean(v)) if v else None, "std": sample_std(v),
                      "n": len(v), "values": v}
        summary.append(row)
    if elapsed is None and (root / "table.json").exists():
        elapsed = json.loads((root / "table.json").read_text()).get("sweep_elapsed")
    report = {"config": config_path, "table": table, "std": "sample standard deviation over seeds (ddof=1)",
              "runs": summary,
              "total_wall_time_s": float(sum(r["wall_time_s"] for r in runs)), "sweep_elapsed": elapsed}
    (root / "table.json").write_text(json.dumps(report, indent=2))

    header = (f"Sweep of `{config_path}`: mean ± sample std (ddof=1) over seeds; summed train+eval wall time of the runs "
              f"{report['total_wall_time_s'] / 60:.1f} min")
    if elapsed:
        header += f"; last sweep invocation {elapsed['seconds'] / 60:.1f} min elapsed with {elapsed['workers']} worker(s)"
    lines = [header + ".", ""]
    split_key = table.get("split")
    for split in split_values(summary, table):
        for m in table["metrics"]:
            title = f"### {m}" + (f" — {split_key} = {split}" if split is not None else "")
            lines += [title, "", grid(summary, table, m, split), ""]
    (root / "table.md").write_text("\n".join(lines))
    return report


def split_values(summary: list[dict], table: dict) -> list:
    """The values of the table's split label in the summary rows ([None] without a split)."""
    key = table.get("split")
    return sorted({r.get(key) for r in summary}, key=str) if key else [None]


def grid(summary: list[dict], table: dict, metric: str, split=None, digits: int | None = None) -> str:
    """One rows x cols markdown grid of `metric` (mean ± sample std over seeds) from table.json's
    summary rows, for one value of the split label."""
    rows_key, cols_key, split_key = table["rows"], table["cols"], table.get("split")
    sub = [r for r in summary if split is None or r.get(split_key) == split]
    rows = list(dict.fromkeys(r[rows_key] for r in sub))
    cols = list(dict.fromkeys(r[cols_key] for r in sub))
    digits = table.get("digits", {}).get(metric, 2) if digits is None else digits
    full_n = max((r[metric]["n"] for r in summary), default=0)
    lines = [f"| {rows_key} \\ {cols_key} | " + " | ".join(map(str, cols)) + " |", "|---" * (len(cols) + 1) + "|"]
    for row in rows:
        cells = []
        for col in cols:
            match = [r for r in sub if r[rows_key] == row and r[cols_key] == col]
            cells.append(_cell(match[0][metric]["values"], match[0]["failed"], digits, full_n) if match else "n/a")
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_curves(root: Path, runs: list[dict], table: dict, curves: list[str]) -> None:
    """`<metric>` vs step from each run's metrics.jsonl (mean over seeds), one panel per split value."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    split_key = table.get("split")
    splits = sorted({r["labels"].get(split_key) for r in runs}, key=str) if split_key else [None]
    for metric in curves:
        fig, axes = plt.subplots(1, len(splits), figsize=(6 * len(splits), 4), squeeze=False)
        for ax, split in zip(axes[0], splits):
            members = [r for r in runs if split is None or r["labels"].get(split_key) == split]
            for i, r in enumerate(members):
                series = []
                for d in r["dirs"]:
                    path = Path(d) / "metrics.jsonl"
                    if not path.exists():
                        continue
                    points = {}
                    for line in path.read_text().splitlines():
                        rec = json.loads(line)
                        if metric in rec:
                            points[rec["step"]] = rec[metric]
                    if points:
                        series.append(points)
                if not series:
                    continue
                steps = sorted(set.intersection(*(set(s) for s in series)))
                # tab20 pairs + line styles: more curves than the default 10-colour cycle stay distinct.
                ax.plot(steps, [np.mean([s[t] for s in series]) for t in steps], marker="o", ms=3,
                        color=plt.cm.tab20(i % 20), linestyle=("-", "--", ":")[i // 20 % 3],
                        label=r["name"] if split is None else r["name"].replace(f"{split}/", ""))
            ax.set_xlabel("step")
            ax.set_ylabel(metric)
            ax.set_yscale(table.get("curves_yscale", "log"))
            ax.set_title(f"{split_key} = {split}" if split is not None else metric)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=6, ncol=2)
        fig.tight_layout()
        fig.savefig(root / f"curves_{metric}.png", dpi=110)
        plt.close(fig)


USAGE = ("usage: python -m experiments.sweep --config experiments/<study>/configs/<file>.py[:VARIANT] "
         "--workdir DIR [--only SUBSTRING] [--seeds 0,1,2] [--report_only] [--workers N]")


def parse_args(argv: list[str]) -> dict[str, Any]:
    """--config, --workdir, --only, --seeds, --report_only, --workers, --worker (bad ones: ConfigError)."""
    flags, _ = parse_flags(argv, {"config": str, "workdir": str, "only": str, "seeds": str, "workers": int}, USAGE,
                           switches=("report_only", "worker"))
    out: dict[str, Any] = {"only": "", "seeds": "", "workers": 1, "report_only": False, "worker": False, **flags}
    try:
        out["seeds"] = [int(s) for s in out["seeds"].split(",")] if out["seeds"] else None
    except ValueError:
        raise ConfigError(f"--seeds={out['seeds']!r}: expected comma-separated integers, e.g. 0,1,2") from None
    return out


def main(argv: list[str] | None = None) -> int:
    """The sweep's command line; returns the exit status (2 for bad input, as every CLI here)."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = parse_args(argv)
        from absl import logging

        from genvision_jax.train.runtime import enable_compilation_cache

        logging.set_verbosity(logging.WARNING)  # Orbax logs every save at INFO
        enable_compilation_cache()
        report = run_sweep(args["config"], args["workdir"], args["only"], args["seeds"], args["report_only"],
                           args["workers"], args["worker"])
    except HelpRequested:
        print(__doc__)
        return 0
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if report is None:  # a worker process: the parent writes the tables
        return 0
    print((Path(args["workdir"]) / "table.md").read_text())
    failed = [r["name"] for r in report["runs"] if r["failed"]]
    if failed:
        print(f"{len(failed)} variant(s) had failed runs: {failed}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
