"""The package's layering holds: imports only go downward, no module imports another that imports it
back (directly or through others, type-checking imports included), and only the web UI imports gradio.

The layers, lowest first (see mmdemo/__init__.py and the README's Architecture section):
top-level plumbing < synth < data < model < training | inference < serving < evaluation < cli.
training and inference are peers: neither imports the other. Evaluation sits above serving because
the benchmark measures the served path.
"""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PLUMBING = {"mmdemo.schema", "mmdemo.audio", "mmdemo.runtime", "mmdemo.checkpoint"}
RANK = {
    "synth": 1,
    "extractors": 1,
    "data": 2,
    "model": 3,
    "training": 4,
    "inference": 4,
    "serving": 5,
    "evaluation": 6,
}
ENTRY_POINTS = {
    "mmdemo",
    "mmdemo.cli",
    "mmdemo.commands",
    "mmdemo.__main__",
    "mmdemo.analysis",
    "mmdemo.dataset",
}
TOP = 7  # the package entry, the CLI and the deprecated re-exports sit above every layer


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module `path` imports anywhere in its body (function-level and TYPE_CHECKING included)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}  # `from pkg import module`
    return found


def rank(module: str) -> int:
    if module in PLUMBING:
        return 0
    if module in ENTRY_POINTS:
        return TOP
    return RANK[module.split(".")[1]]


def library_modules() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in (REPO / "mmdemo").rglob("*.py")}
    return {name: {m for m in imports_of(path) if m in modules} for name, path in modules.items()}


def test_every_library_module_has_a_layer():
    for name in library_modules():
        rank(name)  # raises KeyError for a module outside the documented layers


def test_imports_only_go_downward():
    upward = []
    for name, targets in library_modules().items():
        for target in targets:
            if target == name or name.startswith(target + "."):
                continue  # a module importing its own package's __init__
            if rank(target) > rank(name):
                upward.append(f"{name} (layer {rank(name)}) imports {target} (layer {rank(target)})")
            both = {name.split(".")[1] if "." in name else "", target.split(".")[1] if "." in target else ""}
            if both == {"training", "inference"}:
                upward.append(f"{name} imports its peer layer's {target}")
    assert not upward, "\n".join(upward)


def test_no_import_cycles():
    graph = library_modules()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if nxt == node or node.startswith(nxt + "."):
                continue
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*trail[trail.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    assert not cycles, "\n".join(cycles)


@pytest.mark.parametrize("forbidden", ["gradio", "webapp"])
def test_the_library_never_imports_the_ui(forbidden):
    offenders = [
        module_name(p)
        for p in (REPO / "mmdemo").rglob("*.py")
        if any(m == forbidden or m.startswith(forbidden + ".") for m in imports_of(p))
    ]
    assert not offenders, f"{forbidden} imported by {offenders}"


def test_modules_stay_small():
    sizes = {p.relative_to(REPO): len(p.read_text().splitlines()) for p in REPO.glob("*/**/*.py")}
    big = {str(p): n for p, n in sizes.items() if n > 480 and p.parts[0] in ("mmdemo", "webapp")}
    assert not big, f"modules over ~450 lines: {big}"
    assert len((REPO / "app.py").read_text().splitlines()) <= 150
