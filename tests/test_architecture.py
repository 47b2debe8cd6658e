"""The layers of docs/architecture.md, checked: no import cycle, and no import up a layer.

Reads every module of bot/ and channels/ with ast (nothing is imported), takes each import of a
bot.* or channels.* module, at the top or inside a function (TYPE_CHECKING blocks too), and checks
the graph. A new module needs a place in LAYERS: the test names it until it has one.

The tests too: no test module imports another (tests.test_*); what several share lives in
tests/harness/, tests/fakes/ and the other shared modules beside them.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "channels")

# Lowest first. A module may import its own layer and the layers below it, never one above.
# A name matches a module and everything under it ("bot.db" is bot/db/*), a trailing * any module
# whose name starts so ("bot.settings*": settings.py, settings_limits.py, ...); the first match wins.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", (  # the shared vocabulary and the configuration, at the top of bot/; they import only each other
        "bot.messages", "bot.history", "bot.cards", "bot.settings*",
        "bot.hours", "bot.ratelimit", "bot.logs", "bot.csvfile", "bot.language", "bot.classify.__init__", "bot.__init__")),
    ("db", ("bot.db",)),  # models, engine, store, statements: storage speaks only the vocabulary
    ("models", (  # classifiers and the models by meaning, LLM providers and router, the meters they report to
        "bot.classify", "bot.llm", "bot.monitor", "bot.actions")),  # bot.actions: the shop's API
    ("pipeline", ("bot.pipeline",)),  # the steps, the decision path and the orchestrator that orders them
    ("handoff", ("bot.handoff",)),  # escalations, agents, their desks
    ("runtime", ("bot.runtime",)),  # the channel interface and the queues
    ("quality", ("bot.quality", "bot.analytics")),  # offline tools and reports over what was stored
    ("web", ("bot.web",)),  # the aiohttp app: console, dashboard, metrics, auth
    ("channels", ("channels",)),  # one module per platform, on the core's interface
    ("roots", ("bot.app", "bot.service", "bot.startup", "bot.doctor", "bot.cli")),  # composition
]

# Edges that go up a layer on purpose, each with its reason. Keep this list short.
ALLOWED_UP: dict[tuple[str, str], str] = {
    ("channels.console", "bot.app"): "the terminal chat (`supportbot chat`) opens the App it talks to",
    ("channels.console", "bot.startup"): "the terminal chat prints the start-up summary of the App it opened",
}

SDKS = ("aiogram", "slack_bolt", "slack_sdk")  # platform SDKs appear only in channels/


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            found[".".join(parts)] = path  # a package is "bot.classify.__init__"
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The module of ours that `name` (a module, or a module's attribute) is, if any."""
    while name:
        if name in MODULES:
            return name
        if f"{name}.__init__" in MODULES:
            return f"{name}.__init__"
        name = name.rpartition(".")[0]
    return None


def _imports(module: str) -> list[tuple[str, int, str]]:
    """(what is imported, line, kind) for every import in the module: kind is 'ours' or 'external'."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    out: list[tuple[str, int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno, "") for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from its package
                package = module.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join(package + ([base] if base else []))
            out.append((base, node.lineno, ""))
            out += [(f"{base}.{a.name}", node.lineno, "name") for a in node.names]
    return out


def _graph() -> dict[str, dict[str, int]]:
    """module -> {module it imports: first line}."""
    graph: dict[str, dict[str, int]] = {}
    for module in MODULES:
        edges: dict[str, int] = {}
        for name, line, kind in _imports(module):
            target = _resolve(name)
            if kind == "name" and target == _resolve(name.rpartition(".")[0]):
                continue  # `from x import attr`: the edge to x is counted once, from its own entry
            if target and target != module:
                edges.setdefault(target, line)
        graph[module] = edges
    return graph


GRAPH = _graph()


def _layer(module: str) -> int | None:
    for i, (_, names) in enumerate(LAYERS):
        if any(module.startswith(n[:-1]) if n.endswith("*") else module == n or module.startswith(n + ".")
               for n in names):
            return i
    return None


def _where(module: str, line: int) -> str:
    return f"{MODULES[module].relative_to(ROOT)}:{line}"


def test_every_module_has_a_layer():
    missing = [m for m in MODULES if _layer(m) is None]
    assert not missing, f"put these modules in a layer of tests/test_architecture.py (and docs/architecture.md): {missing}"


def test_no_import_cycle():
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in GRAPH:
        if v not in index:
            visit(v)
    lines = []
    for component in cycles:
        inside = set(component)
        lines += [f"  {_where(a, GRAPH[a][b])}: {a} -> {b}" for a in component for b in GRAPH[a] if b in inside]
    assert not cycles, "import cycle(s) among " + "; ".join(", ".join(c) for c in cycles) + ":\n" + "\n".join(lines)


def test_no_import_runs_up_a_layer():
    bad = []
    for a, edges in GRAPH.items():
        for b, line in edges.items():
            la, lb = _layer(a), _layer(b)
            if la is not None and lb is not None and lb > la and (a, b) not in ALLOWED_UP:
                bad.append(f"  {_where(a, line)}: {a} ({LAYERS[la][0]}) imports {b} ({LAYERS[lb][0]})")
    assert not bad, "imports that run up a layer (see docs/architecture.md):\n" + "\n".join(bad)


def test_allowed_exceptions_are_still_needed():
    stale = [edge for edge in ALLOWED_UP if edge[1] not in GRAPH.get(edge[0], {})]
    assert not stale, f"no longer imported, take them out of ALLOWED_UP: {stale}"


def test_platform_sdks_only_in_channels():
    bad = [f"  {_where(m, line)}: {m} imports {name}" for m in MODULES if not m.startswith("channels.")
           for name, line, _ in _imports(m) if name.split(".")[0] in SDKS]
    assert not bad, "bot/ imports a platform SDK:\n" + "\n".join(bad)


def test_the_check_sees_function_level_imports():
    """The graph is not only top-level imports: a known import inside a function is in it."""
    assert "bot.classify.embeddings" in GRAPH["bot.quality.training"]  # imported inside train_command's helpers
    assert "channels.slack_desk" in GRAPH["channels.slack"]  # imported inside a method


TESTS = ROOT / "tests"
# Test modules that still import another test module, each with its reason. Keep this list empty.
TEST_IMPORTS_ALLOWED: dict[str, str] = {}



def _test_modules_imported(source: str) -> list[tuple[str, int]]:
    """(tests.test_* module, line) for every import of one in the source, at the top or inside a function."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from inside tests/
                base = "tests" + (f".{base}" if base else "")
            # `from tests.test_x import y` imports tests.test_x; `from tests import test_x` imports it by name
            names = [base] if base.startswith("tests.test_") else [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        found += [(name, node.lineno) for name in names if name.startswith("tests.test_")]
    return found


def _imported_by(path: Path) -> list[tuple[str, int]]:
    return _test_modules_imported(path.read_text(encoding="utf-8"))


def test_no_test_module_imports_another():
    bad = [f"  tests/{path.name}:{line}: imports {name}" for path in sorted(TESTS.glob("test_*.py"))
           if path.name not in TEST_IMPORTS_ALLOWED for name, line in _imported_by(path)]
    assert not bad, ("a test module imports another test module: move what they share into tests/harness/ "
                     "(or tests/fakes/ for a double) and import it from there:\n" + "\n".join(bad))


def test_allowed_test_imports_are_still_needed():
    stale = [name for name in TEST_IMPORTS_ALLOWED if not _imported_by(TESTS / name)]
    assert not stale, f"no longer import a test module, take them out of TEST_IMPORTS_ALLOWED: {stale}"


def test_the_test_check_sees_every_form_of_import():
    source = ("import tests.test_a\nfrom tests.test_b import x\nfrom tests import test_c\nfrom .test_d import y\n"
              "from . import test_e\nfrom tests.harness.pipeline import say\nfrom tests import helpers\n"
              "import tests.fakes.doubles\ndef f():\n    from tests.test_f import z\n")
    assert sorted(name for name, _ in _test_modules_imported(source)) == [
        "tests.test_a", "tests.test_b", "tests.test_c", "tests.test_d", "tests.test_e", "tests.test_f"]
