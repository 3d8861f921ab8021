"""One run of the dnerf study (radiance-field trainer; flags: experiments/app.py). The whole study:

  python -m experiments.sweep --config experiments/dnerf/configs/default.py:cpu --workdir DIR --seeds 0
"""

from experiments import app

if __name__ == "__main__":
    app.run("dnerf")
