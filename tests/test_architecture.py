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
