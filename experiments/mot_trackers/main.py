"""python -m experiments.mot_trackers.main --config experiments/mot_trackers/configs/default.py:<variant> --workdir DIR (experiments/app.py)."""
from experiments.app import run; run(__name__)  # noqa: E702
