"""python -m experiments.nerf_encoding.main --config experiments/nerf_encoding/configs/default.py:<variant> --workdir DIR (experiments/app.py)."""
from experiments.app import run; run(__name__)  # noqa: E702
