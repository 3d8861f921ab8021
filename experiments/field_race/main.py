"""One run of the field_race study (radiance-field trainer; flags: experiments/app.py). The whole study:

  python -m experiments.sweep --config experiments/field_race/configs/default.py:cpu --workdir DIR --seeds 0
"""

from experiments import app

if __name__ == "__main__":
    app.run("field_race")
