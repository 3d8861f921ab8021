"""python -m experiments.sparse_views.main --config experiments/sparse_views/configs/default.py:<variant> --workdir DIR (experiments/app.py)."""
from experiments.app import run; run(__name__)  # noqa: E702
