"""Run a study's sweep and tabulate it: one workdir per variant (and seed), then table.md/table.json/plots.

  python -m experiments.sweep --config experiments/<study>/configs/default.py:<variant> --workdir DIR \
      [--only SUBSTRING] [--seeds 0,1,2] [--report_only]

The config module provides `get_config(variant)`, `get_sweep(variant)` -> [{name, labels, overrides}]
and `TABLE` = {metrics, rows, cols, split[, curves]} naming the label keys that index the table. A
variant whose workdir holds `results.json` is not run again, so an interrupted sweep resumes; a variant
that raises (e.g. diverges) is recorded in `FAILED` and shown as such in the table instead of stopping
the sweep. Studies whose runs train several seeds at once set `num_seeds` in their config and report
`<metric>_per_seed`; otherwise every variant runs once per `--seeds` entry (workdir `<name>/seed<k>`).
Mean ± std are over seeds. A study's train module may define `plot_sweep(runs, out_dir)` for its own
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
from absl import app, flags

FLAGS = flags.FLAGS


def load_config_module(path_and_variant: str):
    """'experiments/<study>/configs/<file>.py:<variant>' -> (study, module, variant)."""
    path, _, variant = path_and_variant.partition(":")
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"config file {path!r} not found")
    parts = p.resolve().parts
    if "experiments" not in parts or parts[-2] != "configs":
        raise ValueError(f"config must be experiments/<study>/configs/<file>.py, got {path!r}")
    study = parts[parts.index("experiments") + 1]
    spec = importlib.util.spec_from_file_location(f"_sweep_config_{study}", p)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for attr in ("get_config", "get_sweep", "TABLE"):
        if not hasattr(module, attr):
            raise ValueError(f"{path} defines no {attr}; a sweepable config needs get_config, get_sweep and TABLE")
    return study, module, variant or "cpu"


def apply_overrides(config, overrides: dict[str, Any]):
    """A copy of `config` with dotted-key overrides; unknown keys are an error."""
    config = config.copy_and_resolve_references()
    for dotted, value in overrides.items():
        node, *path = dotted.split(".")
        target = config
        keys = [node, *path]
        for k in keys[:-1]:
            if k not in target:
                raise KeyError(f"sweep override {dotted!r}: no config key {k!r}")
            target = target[k]
        if keys[-1] not in target:
            raise KeyError(f"sweep override {dotted!r}: no config key {keys[-1]!r}")
        target[keys[-1]] = value
    return config


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
    """Train every run of `sweep` without results.json (only the ones this worker claims when `claim`)."""
    train = importlib.import_module(f"experiments.{study}.train")
    for i, entry in enumerate(sweep):
        for seed in seeds:
            wd = root / entry["name"] if vmapped_seeds else root / entry["name"] / f"seed{seed}"
            if (wd / "results.json").exists() or (claim and not _claim(root, wd)):
                continue
            config = apply_overrides(base, {**entry["overrides"], "seed": seed})
            t0 = time.time()
            print(f"[{i + 1}/{len(sweep)}] {entry['name']} seed {seed}", flush=True)
            try:
                train.train_and_evaluate(config, str(wd))
                (wd / "FAILED").unlink(missing_ok=True)
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
        raise ValueError(f"workers must be >= 1, got {workers}")
    study, module, variant = load_config_module(config_path)
    base = module.get_config(variant)
    sweep = [v for v in module.get_sweep(variant) if only in v["name"]]
    if not sweep:
        raise ValueError(f"no sweep entry of {config_path} matches --only={only!r}")
    vmapped_seeds = "num_seeds" in base
    seeds = [base.seed] if vmapped_seeds else (seeds or [0, 1, 2])
    root = Path(workdir)
    root.mkdir(parents=True, exist_ok=True)
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
        if any(codes):
            raise RuntimeError(f"sweep worker(s) exited with codes {codes}; see {root}/worker*.log")
    elapsed = time.time() - t_start
    runs = collect(root, sweep, seeds, vmapped_seeds, module.TABLE)
    report = write_tables(root, runs, module.TABLE, config_path,
                          elapsed=None if report_only else {"seconds": elapsed, "workers": workers})
    curves = module.TABLE.get("curves", [])
    if curves:
        plot_curves(root, runs, module.TABLE, curves)
    train = importlib.import_module(f"experiments.{study}.train")
    if hasattr(train, "plot_sweep"):
        train.plot_sweep(runs, root)
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


def _cell(values: list[float], failed: list[str], digits: int, full_n: int) -> str:
    """'mean ± std', with the seed count when fewer seeds than the table's fullest cell finished."""
    if failed and not values:
        return "failed"
    if not values:
        return "—"
    s = f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}"
    if len(values) < full_n:
        s += f" (n={len(values)})"
    return s + (f" ({len(failed)} failed)" if failed else "")


def write_tables(root: Path, runs: list[dict], table: dict, config_path: str, elapsed: dict | None = None) -> dict:
    """table.json (every number) and table.md (one rows x cols grid per split value and metric).

    `elapsed` ({seconds, workers}) is the wall time of the invocation that trained the runs; it is
    kept from an earlier table.json when the tables are rebuilt (`--report_only`).
    """
    digits = table.get("digits", {})
    summary = []
    for r in runs:
        row = {"name": r["name"], **r["labels"], "failed": r["failed"], "missing": r["missing"],
               "wall_time_s": r["wall_time_s"]}
        for m, v in r["values"].items():
            row[m] = {"mean": float(np.mean(v)) if v else None, "std": float(np.std(v)) if v else None,
                      "n": len(v), "values": v}
        summary.append(row)
    if elapsed is None and (root / "table.json").exists():
        elapsed = json.loads((root / "table.json").read_text()).get("sweep_elapsed")
    report = {"config": config_path, "table": table, "runs": summary,
              "total_wall_time_s": float(sum(r["wall_time_s"] for r in runs)), "sweep_elapsed": elapsed}
    (root / "table.json").write_text(json.dumps(report, indent=2))

    rows_key, cols_key, split_key = table["rows"], table["cols"], table.get("split")
    header = (f"Sweep of `{config_path}`: mean ± std over seeds; summed train+eval wall time of the runs "
              f"{report['total_wall_time_s'] / 60:.1f} min")
    if elapsed:
        header += f"; last sweep invocation {elapsed['seconds'] / 60:.1f} min elapsed with {elapsed['workers']} worker(s)"
    lines = [header + ".", ""]
    splits = sorted({r["labels"].get(split_key) for r in runs}, key=str) if split_key else [None]
    for split in splits:
        sub = [r for r in runs if split is None or r["labels"].get(split_key) == split]
        rows = list(dict.fromkeys(r["labels"][rows_key] for r in sub))
        cols = list(dict.fromkeys(r["labels"][cols_key] for r in sub))
        for m in table["metrics"]:
            full_n = max((len(r["values"][m]) for r in runs), default=0)
            title = f"### {m}" + (f" — {split_key} = {split}" if split is not None else "")
            lines += [title, "", f"| {rows_key} \\ {cols_key} | " + " | ".join(map(str, cols)) + " |",
                      "|---" * (len(cols) + 1) + "|"]
            for row in rows:
                cells = []
                for col in cols:
                    match = [r for r in sub if r["labels"][rows_key] == row and r["labels"][cols_key] == col]
                    cells.append(_cell(match[0]["values"][m], match[0]["failed"], digits.get(m, 2), full_n)
                                 if match else "n/a")
                lines.append(f"| {row} | " + " | ".join(cells) + " |")
            lines.append("")
    (root / "table.md").write_text("\n".join(lines))
    return report


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


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from absl import logging

    from genvision_jax.train.runtime import enable_compilation_cache

    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # Orbax logs every save at INFO
    enable_compilation_cache()
    seeds = [int(s) for s in FLAGS.seeds.split(",")] if FLAGS.seeds else None
    report = run_sweep(FLAGS.config, FLAGS.workdir, FLAGS.only, seeds, FLAGS.report_only, FLAGS.workers,
                       FLAGS.worker)
    if report is None:  # a worker process: the parent writes the tables
        return
    print((Path(FLAGS.workdir) / "table.md").read_text())
    failed = [r["name"] for r in report["runs"] if r["failed"]]
    if failed:
        print(f"{len(failed)} variant(s) had failed runs: {failed}", file=sys.stderr)


if __name__ == "__main__":
    flags.DEFINE_string("config", None, "experiments/<study>/configs/<file>.py:<variant>")
    flags.DEFINE_string("workdir", None, "Sweep directory: one sub-directory per variant.")
    flags.DEFINE_string("only", "", "Run only sweep entries whose name contains this substring.")
    flags.DEFINE_string("seeds", "", "Comma-separated seeds for studies that run one seed per process.")
    flags.DEFINE_boolean("report_only", False, "Do not train; rebuild the tables and plots from the runs.")
    flags.DEFINE_integer("workers", 1, "Train with this many worker processes (each claims runs from the list).")
    flags.DEFINE_boolean("worker", False, "Internal: run as one worker of --workers (no tables).")
    flags.mark_flags_as_required(["config", "workdir"])
    app.run(main)
