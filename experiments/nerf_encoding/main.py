"""One run of the nerf_encoding study (radiance-field trainer; flags: experiments/app.py). The whole study:

  python -m experiments.sweep --config experiments/nerf_encoding/configs/default.py:cpu --workdir DIR --seeds 0
"""

from experiments import app

if __name__ == "__main__":
    app.run("nerf_encoding")
