"""python -m experiments.stylegan_configs.main --config experiments/stylegan_configs/configs/default.py:<variant> --workdir DIR (experiments/app.py)."""
from experiments.app import run; run(__name__)  # noqa: E702
