"""The package's import structure: no cycle, and no module importing one above its layer.

Every import counts, the ones inside functions too (they only postpone loading
TensorFlow). The layers, from the ground up:
0 errors, files, names, version, progress, pixels; 1 data, models; 2 config;
3 run_folder; 4 training, inference; 5 export, convert, evaluation, demo; 6 the commands
(cli, train, predict, evaluate, every __main__, and the package root's lazy names).
"""

import ast

from conftest import ROOT

PACKAGE = ROOT / "tfpix2pix"
LAYERS = [
    ("errors", "files", "names", "version", "progress", "pixels"),
    ("data", "models"),
    ("config",),
    ("run_folder",),
    ("training", "inference"),
    ("export", "convert", "evaluation", "demo"),
]
COMMANDS = ("cli", "train", "predict", "evaluate")


def _modules():
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("tfpix2pix",) + path.relative_to(PACKAGE).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(module, path, modules):
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] \
                if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                name = f"{target}.{alias.name}"
                yield name if name in modules else target
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def _graph():
    modules = _modules()
    return {module: {t for t in _imports(module, path, modules) if t in modules and t != module}
            for module, path in modules.items()}


def _layer(module):
    name = module.split(".", 1)[1] if "." in module else ""
    if not name or name.endswith("__main__") or name in COMMANDS:
        return len(LAYERS)
    for level, names in enumerate(LAYERS):
        if name.split(".")[0] in names:
            return level
    raise AssertionError(f"{module} has no layer in tests/test_structure.py: place it")


def test_no_module_imports_one_above_its_layer():
    upward = [f"{m} -> {d}" for m, deps in _graph().items() for d in deps
              if _layer(d) > _layer(m)]
    assert upward == []


def test_there_is_no_import_cycle():
    graph, state, cycles = _graph(), {}, []

    def visit(module, path):
        state[module] = "open"
        for dep in sorted(graph[module]):
            if state.get(dep) == "open":
                cycles.append(" -> ".join(path[path.index(dep):] + [dep]))
            elif dep not in state:
                visit(dep, path + [dep])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_checks_see_imports_inside_functions():
    # A lazy import is an import: run_folder.checkpoints loads models inside restore_generator.
    assert "tfpix2pix.models" in _graph()["tfpix2pix.run_folder.checkpoints"]
