"""Radiance-field experiment entry point (flags: experiments/app.py).

  python -m experiments.nerf.main --config experiments/nerf/configs/default.py:cpu --workdir DIR \
      [--config.field.name=instant_ngp ...]
"""

from experiments import app

if __name__ == "__main__":
    app.run("nerf")
