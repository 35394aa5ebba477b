"""Dependencies point one way (docs/maintainers.md): the core (schema, tokens, errors) at the bottom, the processing
steps and the services they call above it, builders and eval above those (neither importing the other), and the
applications (the CLI, training glue, model publishing) on top. No module imports from a layer above its own."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {
    "cursorcore": ROOT / "cursorcore",
    "cursorcore.processing": ROOT / "processing",
    "cursorcore.builders": ROOT / "builders",
    "cursorcore.eval": ROOT / "eval",
}
# layer of a module by its longest matching prefix; data packages (templates, configs) import nothing
LAYERS = {
    "cursorcore": 0,
    "cursorcore.datacards": 0,
    "cursorcore.train_configs": 0,
    "cursorcore.processing": 1,
    "cursorcore.builders": 2,
    "cursorcore.eval": 2,
    "cursorcore.apps": 3,
}
SIBLINGS = {("cursorcore.builders", "cursorcore.eval"), ("cursorcore.eval", "cursorcore.builders")}


def _layer(module: str) -> str:
    return max((prefix for prefix in LAYERS if module == prefix or module.startswith(prefix + ".")), key=len)


def _modules() -> dict[str, Path]:
    modules = {}
    for package, folder in FOLDERS.items():
        for path in folder.rglob("*.py"):
            if "defaults" in path.parts:  # sample source code shipped as data
                continue
            if package == "cursorcore" and path.parent != folder and path.parent.name != "apps":
                continue
            parts = path.relative_to(folder).with_suffix("").parts
            name = ".".join((package, *parts)).removesuffix(".__init__")
            modules[name] = path
    return modules


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in names if name == "cursorcore" or name.startswith("cursorcore.")}


def test_no_module_imports_from_a_layer_above_its_own():
    modules = _modules()
    assert len(modules) > 50 and "cursorcore.apps.cli" in modules
    upward = []
    for module, path in sorted(modules.items()):
        own = _layer(module)
        for imported in sorted(_imports(path)):
            theirs = _layer(imported)
            if LAYERS[theirs] > LAYERS[own] or (own, theirs) in SIBLINGS:
                upward.append(f"{module} -> {imported}")
    assert not upward, "imports that point up (or across builders/eval):\n" + "\n".join(upward)


def test_the_layer_rule_catches_an_upward_import():
    assert LAYERS[_layer("cursorcore.apps.cli")] > LAYERS[_layer("cursorcore.builders.runner")]
    assert LAYERS[_layer("cursorcore.schema")] < LAYERS[_layer("cursorcore.processing.formats.wf")]
    assert _layer("cursorcore.train_configs") == "cursorcore.train_configs"
