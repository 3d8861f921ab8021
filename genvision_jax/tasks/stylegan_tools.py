"""`python -m genvision_jax.stylegan generate|mix|truncation|interpolate ...`: images from a trained StyleGAN.

The generator comes from a run's workdir (`--workdir DIR`: its config.json and newest intact checkpoint, the
EMA generator) or from a weights file (`--checkpoint FILE`: rosinality's `.pt` or NVlabs' `.pkl`, read by
`genvision_jax.pretrained.stylegan2` without running anything from the file). Latents are seeded per image
as the official `generate.py` does it: z of seed s is N(0, I) drawn from numpy's RandomState(s).

  generate     --seeds 0-15 --trunc 0.7 --noise-mode const|random|none --out DIR   one PNG per seed
  mix          --rows 0-3 --cols 10-14 --styles coarse|middle|fine|0-3 --out FILE  style-mixing grid: each
               cell takes the column seed's styles at --styles and the row seed's elsewhere (top row: the
               column seeds, left column: the row seeds)
  truncation   --seeds 0-5 --psis 0,0.3,0.5,0.7,1 --out FILE                       truncation strip (rows: seeds)
  interpolate  --seeds 0,1,2 --space z|w --frames 16 --out FILE.gif                Z-slerp or W-lerp loop
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from PIL import Image

from genvision_jax.cli import ArgumentParser, exits_on_user_error
from genvision_jax.errors import ConfigError, InputError, MissingInputError
from genvision_jax.metrics import ppl
from genvision_jax.models.gan.stylegan import StyleGANGenerator, truncate
from genvision_jax.tasks import stylegan_eval
from genvision_jax.train.writers import image_grid

NOISE_MODES = ("const", "random", "none")


def parse_seeds(text: str) -> list[int]:
    """'0-3,7,10-11' -> [0, 1, 2, 3, 7, 10, 11]."""
    seeds = []
    try:
        for part in text.split(","):
            if "-" in part.strip()[1:]:
                a, b = part.split("-", 1)
                seeds.extend(range(int(a), int(b) + 1))
            elif part.strip():
                seeds.append(int(part))
    except ValueError:
        raise ConfigError(f"--seeds {text!r}: expected numbers and ranges like 0-3,7") from None
    if not seeds or min(seeds) < 0:
        raise ConfigError(f"--seeds {text!r}: expected non-negative seeds")
    return seeds


def z_of_seeds(seeds, z_dim: int) -> np.ndarray:
    return np.stack([np.random.RandomState(s).randn(z_dim) for s in seeds]).astype(np.float32)


class LoadedGenerator:
    """A generator and its variables (params, w_avg, constant noise maps), with jitted mapping and synthesis."""

    def __init__(self, generator: StyleGANGenerator, variables: dict, source: str):
        self.G, self.variables, self.source = generator, variables, source
        self._map = jax.jit(lambda v, z: generator.apply(v, z, method=generator.mapping))
        self._synth = jax.jit(lambda v, ws, key, mode: generator.apply(v, ws, mode, method=generator.synthesis,
                                                                        rngs={"noise": key}),
                              static_argnames="mode")

    @property
    def z_dim(self) -> int:
        return self.G.z_dim

    def ws(self, z: np.ndarray) -> jax.Array:
        return self._map(self.variables, jnp.asarray(z))

    def w_avg(self) -> jax.Array:
        return self.variables["w_avg"]["value"]

    def images(self, ws: jax.Array, noise_mode: str = "const", seed: int = 0) -> np.ndarray:
        out = self._synth(self.variables, ws, jax.random.key(seed), noise_mode)
        return np.clip(np.asarray(out), -1.0, 1.0)


def from_workdir(workdir: str) -> LoadedGenerator:
    """The EMA generator of the newest intact checkpoint of a StyleGAN run."""
    from genvision_jax.tasks.stylegan import init_stylegan_state
    from genvision_jax.tasks.stylegan_images import make_setup
    from genvision_jax.train.checkpoint import Checkpointer
    from genvision_jax.train.sharding import abstract_replicated, make_mesh

    root = Path(workdir)
    cfg_path = root / "config.json"
    if not cfg_path.is_file():
        raise MissingInputError(f"--workdir {root}: no config.json (not a run directory)")
    try:
        doc = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as e:
        raise InputError(f"{cfg_path}: not JSON ({e})") from None
    config = ml_collections.ConfigDict(doc.get("config", doc))
    if config.get("trainer") != "stylegan_images":
        raise InputError(f"--workdir {root}: a {config.get('trainer')!r} run, not a StyleGAN (stylegan_images) run")
    setup = make_setup(config)
    mesh = make_mesh()
    abstract = abstract_replicated(lambda k: init_stylegan_state(setup, k), mesh, jax.random.key(0))
    restored = Checkpointer(root / "ckpt").restore_latest(abstract)
    if restored is None:
        raise MissingInputError(f"--workdir {root}: no usable checkpoint in {root / 'ckpt'}")
    step, state, _, _ = restored
    return LoadedGenerator(setup.generator, {"params": state.g_ema, **state.g_vars}, f"{root} (step {step}, EMA G)")


def from_checkpoint(path: str) -> LoadedGenerator:
    from genvision_jax.pretrained import stylegan2

    p = Path(path)
    if not p.is_file():
        raise MissingInputError(f"--checkpoint {p}: no such file")
    try:
        variables, info = stylegan2.load(p)
    except (ValueError, KeyError) as e:
        raise InputError(f"--checkpoint {p}: {e}") from None
    G = StyleGANGenerator(info["resolution"], 3, info["z_dim"], info["w_dim"], info["mapping_layers"], 0.01,
                          info["channel_base"], info["channel_max"])
    return LoadedGenerator(G, jax.tree.map(jnp.asarray, variables), f"{p} ({info['layout']} layout)")


def layer_range(spec: str, G: StyleGANGenerator) -> tuple[int, int]:
    groups = stylegan_eval.layer_groups(G.resolution, G.style)
    if spec in groups:
        return groups[spec]
    try:
        a, b = (int(v) for v in spec.split("-")) if "-" in spec else (int(spec), int(spec))
    except ValueError:
        raise ConfigError(f"--styles {spec!r}: use coarse, middle, fine or a layer range like 0-3") from None
    if not 0 <= a <= b < G.num_ws:
        raise ConfigError(f"--styles {spec!r}: layers must be within 0-{G.num_ws - 1}")
    return a, b + 1


def _to_uint8(images: np.ndarray) -> np.ndarray:
    return np.round((images + 1.0) * 127.5).clip(0, 255).astype(np.uint8)


def generate(gen: LoadedGenerator, seeds, psi: float, noise_mode: str, out: Path) -> list[Path]:
    ws = truncate(gen.ws(z_of_seeds(seeds, gen.z_dim)), gen.w_avg(), psi)
    images = _to_uint8(gen.images(ws, noise_mode))
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for s, img in zip(seeds, images):
        paths.append(out / f"seed{s:04d}.png")
        Image.fromarray(img.squeeze(-1) if img.shape[-1] == 1 else img).save(paths[-1])
    return paths


def mixing_grid(gen: LoadedGenerator, rows, cols, styles: tuple[int, int], psi: float, noise_mode: str) -> np.ndarray:
    """[(1 + rows) · (1 + cols)] images, row-major, blank top-left: column seeds' styles in [a, b)."""
    wr = truncate(gen.ws(z_of_seeds(rows, gen.z_dim)), gen.w_avg(), psi)
    wc = truncate(gen.ws(z_of_seeds(cols, gen.z_dim)), gen.w_avg(), psi)
    img_r, img_c = gen.images(wr, noise_mode), gen.images(wc, noise_mode)
    a, b = styles
    layers = jnp.arange(wr.shape[1])[None, :, None]
    cells = [np.full_like(img_r[0], -1.0)] + list(img_c)
    for i in range(len(rows)):
        ws = jnp.where((layers >= a) & (layers < b), wc, wr[i:i + 1])
        cells += [img_r[i]] + list(gen.images(ws, noise_mode))
    return np.stack(cells)


def truncation_strip(gen: LoadedGenerator, seeds, psis, noise_mode: str) -> np.ndarray:
    ws = gen.ws(z_of_seeds(seeds, gen.z_dim))
    cols = [gen.images(truncate(ws, gen.w_avg(), float(p)), noise_mode) for p in psis]
    return np.stack([cols[j][i] for i in range(len(seeds)) for j in range(len(psis))])


def interpolation_frames(gen: LoadedGenerator, seeds, space: str, frames: int, psi: float,
                         noise_mode: str) -> np.ndarray:
    """A closed loop through the seeds' latents: slerp in Z (then the mapping) or lerp in W."""
    z = z_of_seeds(seeds + seeds[:1], gen.z_dim)
    t = np.linspace(0.0, 1.0, frames, endpoint=False).astype(np.float32)
    out = []
    for a, b in zip(z[:-1], z[1:]):
        za, zb = np.repeat(a[None], frames, 0), np.repeat(b[None], frames, 0)
        if space == "z":
            norm = np.linalg.norm(za, axis=1, keepdims=True)  # slerp of directions at the mean radius
            ws = gen.ws(np.asarray(ppl.slerp(jnp.asarray(za), jnp.asarray(zb), jnp.asarray(t))) * norm)
        else:
            ws = ppl.lerp(gen.ws(za), gen.ws(zb), jnp.asarray(t))
        out.append(gen.images(truncate(ws, gen.w_avg(), psi), noise_mode))
    return np.concatenate(out)


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m genvision_jax.stylegan", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)

    def common(p):
        src = p.add_mutually_exclusive_group(required=True)
        src.add_argument("--workdir", help="a StyleGAN run directory (its newest checkpoint's EMA generator)")
        src.add_argument("--checkpoint", help="rosinality .pt or NVlabs .pkl generator weights")
        p.add_argument("--trunc", type=float, default=1.0, help="truncation ψ (default 1: none)")
        p.add_argument("--noise-mode", default="const", choices=NOISE_MODES)
        p.add_argument("--out", required=True)

    p = sub.add_parser("generate", help="one PNG per seed")
    common(p)
    p.add_argument("--seeds", required=True)
    p = sub.add_parser("mix", help="style-mixing grid PNG")
    common(p)
    p.add_argument("--rows", required=True)
    p.add_argument("--cols", required=True)
    p.add_argument("--styles", default="coarse", help="coarse | middle | fine | a layer range a-b (from the columns)")
    p = sub.add_parser("truncation", help="truncation strip PNG")
    common(p)
    p.add_argument("--seeds", required=True)
    p.add_argument("--psis", default="0,0.3,0.5,0.7,1,1.1,1.5")
    p = sub.add_parser("interpolate", help="interpolation loop GIF")
    common(p)
    p.add_argument("--seeds", required=True)
    p.add_argument("--space", default="w", choices=("z", "w"))
    p.add_argument("--frames", type=int, default=16, help="frames per segment")
    p.add_argument("--duration-ms", type=int, default=80)
    return parser


def run(args) -> dict[str, Any]:
    gen = from_workdir(args.workdir) if args.workdir else from_checkpoint(args.checkpoint)
    out = Path(args.out)
    if args.command == "generate":
        paths = generate(gen, parse_seeds(args.seeds), args.trunc, args.noise_mode, out)
        return {"source": gen.source, "written": [str(p) for p in paths]}
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.command == "mix":
        rows, cols = parse_seeds(args.rows), parse_seeds(args.cols)
        cells = mixing_grid(gen, rows, cols, layer_range(args.styles, gen.G), args.trunc, args.noise_mode)
        Image.fromarray(image_grid(cells, len(cols) + 1)).save(out)
    elif args.command == "truncation":
        try:
            psis = [float(v) for v in args.psis.split(",")]
        except ValueError:
            raise ConfigError(f"--psis {args.psis!r}: expected numbers like 0,0.5,1") from None
        seeds = parse_seeds(args.seeds)
        Image.fromarray(image_grid(truncation_strip(gen, seeds, psis, args.noise_mode), len(psis))).save(out)
    else:
        if args.frames < 1:
            raise ConfigError(f"--frames must be >= 1, got {args.frames}")
        frames = _to_uint8(interpolation_frames(gen, parse_seeds(args.seeds), args.space, args.frames, args.trunc,
                                                args.noise_mode))
        pictures = [Image.fromarray(f.squeeze(-1) if f.shape[-1] == 1 else f) for f in frames]
        pictures[0].save(out, save_all=True, append_images=pictures[1:], duration=args.duration_ms, loop=0)
    return {"source": gen.source, "written": [str(out)]}


@exits_on_user_error
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    print(json.dumps(run(args), indent=2))
    return 0
