"""python -m experiments.domain_classifier.main --config experiments/domain_classifier/configs/default.py:<variant> --workdir DIR (experiments/app.py)."""
from experiments.app import run; run(__name__)  # noqa: E702
