"""One run of the sparse_views study (radiance-field trainer; flags: experiments/app.py). The whole study:

  python -m experiments.sweep --config experiments/sparse_views/configs/default.py:cpu --workdir DIR --seeds 0
"""

from experiments import app

if __name__ == "__main__":
    app.run("sparse_views")
