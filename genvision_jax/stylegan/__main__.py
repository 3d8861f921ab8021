"""`python -m genvision_jax.stylegan ...`: see genvision_jax.tasks.stylegan_tools."""

import sys

from genvision_jax.tasks.stylegan_tools import main

if __name__ == "__main__":
    sys.exit(main())
