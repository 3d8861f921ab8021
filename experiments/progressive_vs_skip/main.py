"""python -m experiments.progressive_vs_skip.main --config experiments/progressive_vs_skip/configs/default.py:<variant> --workdir DIR (experiments/app.py)."""
from experiments.app import run; run(__name__)  # noqa: E702
