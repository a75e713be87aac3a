"""The core never imports Qt; importing the core and the CLI does not import TensorFlow."""

import subprocess
import sys


def _modules_after(code: str) -> set[str]:
    r = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return set(r.stdout.split())


def test_core_imports_no_qt_and_no_tensorflow():
    """Every module of the core, at any depth (landgui.core.scenes.blocks too)."""
    import pkgutil
    from pathlib import Path

    import landgui.core

    names = [m.name for m in pkgutil.walk_packages(landgui.core.__path__, "landgui.core.")]
    root = Path(landgui.core.__file__).parent
    on_disk = {
        ".".join(("landgui", "core", *p.relative_to(root).with_suffix("").parts)).removesuffix(".__init__")
        for p in root.rglob("*.py")
    }
    assert set(names) == on_disk - {"landgui.core"}, "every .py file under landgui/core is imported here"
    mods = _modules_after("\n".join(f"import {n}" for n in names))
    assert not any(m.startswith("PySide6") for m in mods)
    assert "tensorflow" not in mods and "keras" not in mods


def test_cli_and_gui_start_without_tensorflow():
    mods = _modules_after("import landgui.cli, landgui.gui.main_window")
    assert "tensorflow" not in mods


def test_import_linter_contract():
    import shutil

    exe = shutil.which("lint-imports") or str(__import__("pathlib").Path(sys.executable).parent / "lint-imports")
    r = subprocess.run([exe], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "KEPT" in r.stdout
    assert "broken" not in r.stdout.lower().replace("0 broken", ""), r.stdout


def _landgui_sources():
    from pathlib import Path

    import landgui

    root = Path(landgui.__file__).parent
    return root, sorted(root.rglob("*.py"))


# A front door may start the app without loading Qt for every command: the one lazy import allowed.
LAZY_ALLOWED = {("landgui/cli/commands/gui.py", "landgui.gui.app")}


def test_no_function_local_landgui_imports():
    """Layering is only checkable when imports are where a reader and the linter see them: at the
    top of the module (third-party heavyweights such as TensorFlow stay lazy; landgui's own
    modules never hide an import inside a function)."""
    import ast

    root, files = _landgui_sources()
    hidden = []
    for f in files:
        rel = f"landgui/{f.relative_to(root).as_posix()}"
        tree = ast.parse(f.read_text(encoding="utf-8"))
        top = {id(n) for n in tree.body}
        for node in tree.body:  # type-only imports under `if TYPE_CHECKING:` count as top level
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                top |= {id(n) for n in ast.walk(node)}
        for node in ast.walk(tree):
            if id(node) in top:
                continue
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("landgui"):
                mods = [node.module]
            elif isinstance(node, ast.Import):
                mods = [a.name for a in node.names if a.name.startswith("landgui")]
            else:
                continue
            hidden += [f"{rel}:{node.lineno} {m}" for m in mods if (rel, m) not in LAZY_ALLOWED]
    assert not hidden, "function-local landgui imports:\n" + "\n".join(hidden)


def test_every_module_sits_in_a_layer_of_the_contract():
    """The layers contract checks only the modules it names: a new top-level module or core
    package outside every layer would escape it."""
    import tomllib

    import landgui

    cfg = tomllib.loads((__import__("pathlib").Path(landgui.__file__).parents[1] / "pyproject.toml").read_text())
    [layers] = [c["layers"] for c in cfg["tool"]["importlinter"]["contracts"] if c["type"] == "layers"]
    named = {m.strip() for layer in layers for m in layer.replace(":", "|").split("|")}
    root, files = _landgui_sources()
    outside = []
    for f in files:
        parts = ("landgui", *f.relative_to(root).with_suffix("").parts)
        mod = ".".join(parts).removesuffix(".__init__")
        if mod in {"landgui", "landgui.__main__", "landgui.core", "landgui.resources"}:
            continue  # the package itself, its `python -m` entry, the core's namespace, package data
        if not any(mod == n or mod.startswith(n + ".") for n in named):
            outside.append(mod)
    assert not outside, f"modules in no layer of the import-linter contract: {outside}"
