"""The core documents itself, and docs/architecture.md describes the code that exists.

Both are checked here without ruff's configuration, which a later change could loosen: the
docstrings by walking the syntax trees, the architecture page against pyproject.toml's layers
contract and against the files and names it mentions (names resolved by importing them).
"""

import ast
import importlib
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "landgui" / "core"
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def _undocumented(path: Path) -> list[str]:
    """``file:line name`` of every public module, class, function and method without a docstring
    (public: no leading underscore; magic methods and ``__init__`` are described by their class)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    rel = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name
    missing = [f"{rel}:1 (module)"] if ast.get_docstring(tree) is None else []

    def walk(node: ast.AST, owner: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                if child.name.startswith("_"):
                    continue
                if ast.get_docstring(child) is None:
                    missing.append(f"{rel}:{child.lineno} {owner}{child.name}")
                if isinstance(child, ast.ClassDef):
                    walk(child, f"{owner}{child.name}.")

    walk(tree, "")
    return missing


def test_every_public_definition_of_the_core_has_a_docstring():
    files = sorted(p for p in CORE.rglob("*.py") if not p.name.startswith("_") or p.name == "__init__.py")
    assert len(files) > 40, "the core's modules were found"
    missing = [m for f in files for m in _undocumented(f)]
    assert not missing, f"{len(missing)} public definitions without a docstring:\n" + "\n".join(missing)


def test_the_docstring_walk_finds_what_is_missing(tmp_path):
    """The check above can fail: an undocumented method of a public class, an undocumented public
    function and a module without a docstring are found; private names are not asked for."""
    f = tmp_path / "probe.py"
    f.write_text(
        '"""Module."""\n\n\nclass A:\n    """A."""\n\n    def m(self):\n        pass\n\n'
        "    def _p(self):\n        pass\n\n\ndef _f():\n    pass\n\n\ndef g():\n    pass\n"
    )
    assert _undocumented(f) == ["probe.py:7 A.m", "probe.py:18 g"]
    f.write_text('def g():\n    """G."""\n')
    assert _undocumented(f) == ["probe.py:1 (module)"]


def _architecture() -> str:
    if not ARCHITECTURE.is_file():
        pytest.fail("docs/architecture.md is missing")
    return ARCHITECTURE.read_text(encoding="utf-8")


def test_architecture_lists_the_layers_of_the_contract_in_order():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    [layers] = [c["layers"] for c in cfg["tool"]["importlinter"]["contracts"] if c["type"] == "layers"]
    block = _architecture().split("## The layers", 1)[1].split("```")[1]
    listed = [line.split()[0] for line in block.strip().splitlines()]
    expected = [layer.split("|")[0].strip() for layer in layers]
    assert listed == expected, "the page's layer diagram follows pyproject.toml's layers contract"


# The packages a short name on the page is relative to, tried in this order.
BASES = (
    "",
    "landgui",
    "landgui.core",
    "landgui.core.base",
    "landgui.core.scenes",
    "landgui.core.inference",
    "landgui.core.evaluation",
    "landgui.core.models",
    "landgui.core.data",
    "landgui.core.runs",
    "landgui.gui",
    "PySide6.QtCore",
)
FILE_SUFFIXES = {"json", "md", "toml", "py", "tif", "csv", "png", "xml", "qml", "geojson", "gpkg", "keras", "tflite"}


def _class_members() -> dict[str, set[str]]:
    """Every class defined in landgui (read from the source, nothing imported) -> the names
    defined in its body."""
    members: dict[str, set[str]] = {}
    for f in (ROOT / "landgui").rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                names = members.setdefault(node.name, set())
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                        names.add(item.name)
                    elif isinstance(item, ast.AnnAssign | ast.Assign):
                        targets = [item.target] if isinstance(item, ast.AnnAssign) else item.targets
                        names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return members


def _resolves(dotted: str, classes: dict[str, set[str]]) -> bool:
    """``Class.member`` of a class defined in landgui, or a module / attribute path importable from
    one of :data:`BASES`."""
    parts = dotted.split(".")
    if len(parts) == 2 and parts[1] in classes.get(parts[0], ()):
        return True
    for base in BASES:
        for cut in range(len(parts), -1, -1):
            module = ".".join(p for p in (base, *parts[:cut]) if p)
            if not module:
                continue
            try:
                obj = importlib.import_module(module)
            except ImportError:
                continue
            try:
                for name in parts[cut:]:
                    obj = getattr(obj, name)
            except AttributeError:
                break
            return True
    return False


def test_architecture_names_files_and_functions_that_exist():
    text = _architecture()
    spans = re.findall(r"`([^`\n]+)`", text)
    on_disk = [p.relative_to(ROOT).as_posix() + ("/" if p.is_dir() else "") for p in (ROOT / "landgui").rglob("*")]
    on_disk += ["landgui/"] + [p.relative_to(ROOT).as_posix() for p in ROOT.glob("*/*") if p.is_file()]
    paths = {s for s in spans if re.fullmatch(r"[\w/.-]+(\.py|\.md|/)", s)}
    missing = sorted(p for p in paths if not any(f == p or f.endswith("/" + p) for f in on_disk))
    assert not missing, f"files named on the page that do not exist: {missing}"
    names = {s.removesuffix("()") for s in spans if re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+(\(\))?", s)}
    names = {n for n in names if n.rsplit(".", 1)[1] not in FILE_SUFFIXES}
    assert len(names) > 20, "the page names the code it describes"
    classes = _class_members()
    unknown = sorted(n for n in names if not _resolves(n, classes))
    assert not unknown, f"names on the page that do not resolve in landgui: {unknown}"
