"""python -m experiments.field_race.main --config experiments/field_race/configs/default.py:<variant> --workdir DIR (experiments/app.py)."""
from experiments.app import run; run(__name__)  # noqa: E702
