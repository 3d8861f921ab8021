"""python -m experiments.ada_fewshot.main --config experiments/ada_fewshot/configs/default.py:<variant> --workdir DIR (experiments/app.py)."""
from experiments.app import run; run(__name__)  # noqa: E702
