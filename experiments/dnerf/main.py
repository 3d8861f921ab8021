"""python -m experiments.dnerf.main --config experiments/dnerf/configs/default.py:<variant> --workdir DIR (experiments/app.py)."""
from experiments.app import run; run(__name__)  # noqa: E702
