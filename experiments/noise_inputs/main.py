"""python -m experiments.noise_inputs.main --config experiments/noise_inputs/configs/default.py:<variant> --workdir DIR (experiments/app.py)."""
from experiments.app import run; run(__name__)  # noqa: E702
