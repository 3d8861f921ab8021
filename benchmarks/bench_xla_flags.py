"""XLA:CPU flags and runtime levers, each in a fresh process: their effect on the matmul peak and on
fwd+bwd time of representative conv layers (ours, impl="auto" and the single formulations).

    python -m benchmarks.bench_xla_flags [--repeats 5] [--out FILE]

XLA reads XLA_FLAGS once per process, so every setting runs `benchmarks.bench_conv` layers in its own
subprocess; the baseline runs first and last (its two runs show the machine's drift). Settings are
the oneDNN / XNNPACK / YNNPACK library-fusion paths of the pinned jaxlib (names from its flag
registry), fast-math, the single-threaded Eigen path and glibc's mmap threshold.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

LAYERS = ("ref_conv3x3_128-128_32", "D2_conv_64-128_32to16", "D4_conv_256-512_8to4", "G5_convT_64-3_32to64",
          "resnet_block_3x3_256_16")
SETTINGS = {
    "baseline": {},
    "onednn_dot_fusion": {"XLA_FLAGS": "--xla_cpu_experimental_onednn_fusion_type=LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"},
    "xnn_dot_conv_fusion": {"XLA_FLAGS": "--xla_cpu_experimental_xnn_fusion_type="
                                         "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION"},
    "ynn_dot_conv_fusion": {"XLA_FLAGS": "--xla_cpu_experimental_ynn_fusion_type="
                                         "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION"},
    "use_xnnpack": {"XLA_FLAGS": "--xla_cpu_use_xnnpack=true"},
    "use_onednn": {"XLA_FLAGS": "--xla_cpu_use_onednn=true"},
    "fast_math_on": {"XLA_FLAGS": "--xla_cpu_enable_fast_math=true"},
    "no_multithread_eigen": {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false"},
    "malloc_no_mmap": {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "100000000000"},
    "baseline_again": {},
}

PROBE = """
import json, sys
from benchmarks import bench_conv
repeats = int(sys.argv[1])
peak = bench_conv.matmul_peak(repeats)
layers = {}
for layer in bench_conv.LAYERS:
    if layer[0] in sys.argv[2:]:
        r = bench_conv.bench_layer(*layer, repeats, flax_limit_s=0.0)
        layers[layer[0]] = {k: v["median"] for k, v in r["seconds"].items() if k.startswith("ours")}
print("RESULT " + json.dumps({"matmul_gflops": peak["jax_gflops"], "layers": layers}))
"""


def run_setting(env_extra: dict, repeats: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS",)}
    env.update(env_extra)
    proc = subprocess.run([sys.executable, "-c", PROBE, str(repeats), *LAYERS], env=env, capture_output=True,
                          text=True, cwd=Path(__file__).resolve().parents[1])
    line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1][:300]}
    return json.loads(line[len("RESULT "):])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    results = {}
    for name, env in SETTINGS.items():
        results[name] = {"env": env, **run_setting(env, args.repeats)}
        print(name, json.dumps(results[name]), flush=True)
    base = results["baseline"]
    for name, r in results.items():
        if "layers" in r and "layers" in base:
            r["ours_auto_over_baseline"] = {
                layer: round(t["ours_auto"] / base["layers"][layer]["ours_auto"], 3) for layer, t in r["layers"].items()}
    result = {"benchmark": "xla_cpu_flags", "layers": list(LAYERS), "repeats": args.repeats,
              "protocol": "each setting in a fresh process; medians of `repeats` fwd+bwd calls after a warm-up "
                          "(benchmarks.bench_conv); matmul = best 2048^3 float32 GEMM",
              "settings": results}
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
