"""python -m experiments.stylegan.main --config experiments/stylegan/configs/default.py:<variant> --workdir DIR (experiments/app.py)."""
from experiments.app import run; run(__name__)  # noqa: E702
