"""python -m experiments.style_mixing.main --config experiments/style_mixing/configs/default.py:<variant> --workdir DIR (experiments/app.py)."""
from experiments.app import run; run(__name__)  # noqa: E702
