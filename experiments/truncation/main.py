"""python -m experiments.truncation.main --config experiments/truncation/configs/default.py:<variant> --workdir DIR (experiments/app.py)."""
from experiments.app import run; run(__name__)  # noqa: E702
