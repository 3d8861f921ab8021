"""The layers of ARCHITECTURE.md hold: imports flow one way, no two modules import each other, and
nothing in the repository cites a document outside it.

Imports are read from the source (every `import` and `from ... import`, also inside functions, and
`importlib.import_module("...")` with a literal name). `from pkg import sub` inside `pkg` itself counts
as importing `pkg.sub` only: the package is already being initialised when its modules run.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PKG = "genvision_jax"

# Which top-level parts of genvision_jax each part may import (itself always). The order of ARCHITECTURE.md:
# errors/registry/cli at the bottom; nn, rendering, tracking; losses, models, pretrained, data; train;
# metrics; tasks (the family layer); experiments and benchmarks above the package.
ALLOWED = {
    "errors": set(),
    "registry": {"errors"},
    "cli": {"errors"},
    "nn": {"errors"},
    "rendering": {"errors"},
    "tracking": {"errors"},
    "losses": {"errors", "nn"},
    "models": {"errors", "registry", "nn", "rendering", "tracking"},
    "pretrained": {"errors", "cli", "models", "nn"},
    "data": {"errors", "registry", "rendering", "tracking"},
    "train": {"errors", "registry"},
    "metrics": {"errors", "registry", "cli", "nn", "rendering", "tracking", "models", "pretrained", "data", "train",
                "losses"},
    "tasks": {"errors", "registry", "cli", "nn", "rendering", "tracking", "losses", "models", "pretrained", "data",
              "train", "metrics"},
    "stylegan": {"tasks"},  # `python -m genvision_jax.stylegan`: the StyleGAN tools' entry point only
}


def _modules() -> dict[str, Path]:
    mods = {}
    for base in (PKG, "experiments", "benchmarks"):
        for path in (REPO / base).rglob("*.py"):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts)
            mods[name.removesuffix(".__init__")] = path
    return mods


def import_graph() -> dict[str, set[str]]:
    mods = _modules()
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
                subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in mods]
                own_parent = name == base or name.startswith(base + ".")
                targets = subs if own_parent and len(subs) == len(node.names) else [base, *subs]
            elif (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module" and node.args
                  and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                targets = [node.args[0].value]
            edges[name].update(t for t in targets if t in mods and t != name)
    return edges


def _cycles(edges: dict[str, set[str]], group) -> list[list[str]]:
    """Strongly connected components (size > 1) of the graph with nodes mapped by `group`."""
    graph: dict[str, set[str]] = defaultdict(set)
    for a, bs in edges.items():
        for b in bs:
            ga, gb = group(a), group(b)
            if ga is not None and gb is not None and ga != gb:
                graph[ga].add(gb)
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def _part(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == PKG and len(parts) > 1 else None


def test_no_import_circle_between_packages_or_modules():
    edges = import_graph()
    assert _cycles(edges, _part) == []
    assert _cycles(edges, lambda m: m) == []  # no two modules (or a module and its package) import each other


def test_imports_flow_one_way_through_the_layers():
    edges = import_graph()
    wrong = []
    for a, bs in edges.items():
        pa = _part(a)
        if pa is None:
            continue  # experiments and benchmarks may import anything
        for b in bs:
            pb = _part(b)
            if b.split(".")[0] != PKG:
                wrong.append(f"{a} -> {b}")  # the package never imports experiments or benchmarks
            elif pb is not None and pb != pa and pb not in ALLOWED.get(pa, set()):
                wrong.append(f"{a} -> {b}")
    assert wrong == []
    assert set(ALLOWED) >= {_part(m) for m in _modules() if _part(m)}, "a new part needs its row in ALLOWED"


def test_nothing_cites_documents_outside_the_repository():
    outside = re.compile(r"DESIGN\.md|ANCHORS\.md|CATALOG [A-Z]|WEIGHTS\.md|shared/seeds|seed 00\d")
    hits = []
    for path in REPO.rglob("*"):
        if path.suffix not in (".py", ".md", ".toml", ".cfg") and path.name not in ("Makefile", "run"):
            continue
        if any(part in (".venv", ".git", "workdirs", "node_modules") for part in path.parts) or not path.is_file():
            continue
        if path == Path(__file__):
            continue
        for i, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if outside.search(line):
                hits.append(f"{path.relative_to(REPO)}:{i}: {line.strip()[:100]}")
    assert hits == []
