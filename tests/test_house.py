"""The shape of the code: imports run one way, nothing reaches into another module's
private names, and nothing points a reader at documents the product does not ship."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "storyreel"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, list[str]]]:
    """(imported module, names taken from it) for every import of ``path`` inside the package,
    function-level imports included (they are imports all the same)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(alias.name, []) for alias in node.names if alias.name in modules]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target not in modules:
                continue
            names = [a.name for a in node.names]
            # "from . import x" takes the module x itself
            subs = [n for n in names if f"{target}.{n}" in modules]
            out += [(f"{target}.{n}", []) for n in subs]
            rest = [n for n in names if n not in subs]
            if rest:
                out.append((target, rest))
    return out


def _graph() -> dict[str, list[tuple[str, list[str]]]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_the_package_imports_have_no_circle():
    graph = {name: {t for t, _ in edges if t != name} for name, edges in _graph().items()}
    # a package's __init__ importing its own modules is not a circle of design
    state: dict[str, int] = {}
    circles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                circles.append(trail[trail.index(nxt):] + [nxt] if nxt in trail else [node, nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not circles, f"import circles: {circles}"


def test_no_module_takes_another_modules_private_names():
    taken = [(name, target, n) for name, edges in _graph().items() for target, names in edges
             for n in names if n.startswith("_") and not n.startswith("__") and target != name]
    assert not taken, f"private names imported across modules: {taken}"


def test_pipeline_and_providers_know_nothing_of_telegram_flask_or_celery():
    for folder in ("pipeline", "providers", "media"):
        for path in (PACKAGE / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            for lib in ("telegram", "flask", "celery"):
                assert not re.search(rf"^\s*(from|import) {lib}\b", text, re.M), f"{path} imports {lib}"


def test_providers_never_import_the_pipeline():
    for name, edges in _graph().items():
        if name.startswith("storyreel.providers"):
            assert not [t for t, _ in edges if t.startswith("storyreel.pipeline")], name


# requirement numbers ("R24", "(R8)", "R29–R32"), the planning documents, and the plan the
# product started from ("the seed's keys"); a random seed is fine
_OUTSIDE = re.compile(r"\bR\d{1,2}\b|SPEC\.md|STYLE\.md|\bshared/|\bSTYLE \d|\b[Tt]he seed\b|\bseed's\b"
                      r"|\bseed task\b|\bSEED_|\bissue \d+\b")


def _shipped_text_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / ".env.example", ROOT / "Dockerfile", ROOT / "render.yaml",
             ROOT / "docker-compose.yml"]
    files += list(PACKAGE.rglob("*.py")) + list((ROOT / "bench").rglob("*.py"))
    files += list((ROOT / "tests").rglob("*.py")) + list((ROOT / "scripts").rglob("*.sh"))
    return [f for f in files if f.is_file()]


def test_nothing_points_at_documents_a_user_does_not_have():
    hits = []
    for path in _shipped_text_files():
        if path == Path(__file__):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for _match in _OUTSIDE.finditer(line):
                hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert not hits, "references to documents the product does not ship:\n" + "\n".join(hits[:400])
