"""python -m experiments.nerf_hierarchical.main --config experiments/nerf_hierarchical/configs/default.py:<variant> --workdir DIR (experiments/app.py)."""
from experiments.app import run; run(__name__)  # noqa: E702
