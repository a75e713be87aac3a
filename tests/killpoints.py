"""Kill a landgui command at a chosen point of its writing, for tests/test_reliability.py; or
step two at once through their writing, for tests/test_outputs.py.

``python killpoints.py SPEC.json REPORT.json`` runs each of SPEC's runs in turn, each in a child
forked from this process, and writes what it saw to REPORT.json. A run is
``{"argv": [...], "out": FOLDER, "kill": null | [EVENT, K, "before" | "after"]}`` (and
``"copy_from": FOLDER2``: OUT starts as a copy of FOLDER2): the child runs
``landgui.cli.main(argv)`` (or, with ``"export": {"result": PICKLE, "name", "palette", "formats"}``
instead of ``argv``, :func:`landgui.core.scenes.writers.export` of a pickled SceneResult into
FOLDER) and sends itself SIGKILL just before or just after the K-th (1-based) EVENT; a negative K
counts from the end of the first run's renames (-1: its last one). EVENT is ``"replace"``, an
``os.replace`` or ``os.link`` whose target lies in FOLDER (a file or folder taking its final name;
the folder's lock file is not an output and is not counted; killed before the rename of a partial
file, that file is first cut to half its size, as if the kill came half-way through writing it),
``"write"``, such a rename of a partial file (a file whose writing is complete: killed before
it, half-way through writing that file), or ``"copy"``, a ``shutil.copy2``. The kill points are counted, not timed, so they do not depend
on the machine's speed. The report gives, per run, ``"exit"`` (the exit code, or ``"SIGKILL"``),
``"renames"`` (the targets of the renames into FOLDER, in order, relative to it) and ``"files"``
(every file under FOLDER, hidden ones included: relative path -> sha256).

``python killpoints.py --step REPORT_FD GO_FD FOLDER ARGV_JSON`` runs ``landgui.cli.main(ARGV)``
in this process and, at each rename into FOLDER (as above), writes the target's path relative
to FOLDER and a newline to the file descriptor REPORT_FD, then waits for one byte on GO_FD: the
test decides the order in which two such processes go on (tests/test_outputs.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sys
from pathlib import Path

LOCK = ".landgui.lock"  # landgui.core.base.outdir.LOCK_NAME: the folder's lock, not an output


def watch_renames(out: Path, before, after) -> None:
    """Call ``before(target, src)`` and ``after(target)`` around every ``os.replace`` and
    ``os.link`` whose target lies in ``out`` (``target`` relative to it), the lock file aside."""
    out = out.resolve()
    real = {"replace": os.replace, "link": os.link}

    def watched(kind):
        def rename(src, dst, *a, **kw):
            target = Path(dst).resolve()
            if not target.is_relative_to(out) or target.name.startswith(LOCK):
                return real[kind](src, dst, *a, **kw)
            rel = str(target.relative_to(out))
            before(rel, src)
            r = real[kind](src, dst, *a, **kw)
            after(rel)
            return r

        return rename

    os.replace, os.link = watched("replace"), watched("link")


def _child(run: dict, log_fd: int) -> int:
    kill = run.get("kill")
    count = {"replace": 0, "write": 0, "copy": 0}

    def at(event: str, when: str) -> None:
        if kill and kill[0] == event and kill[1] == count[event] and kill[2] == when:
            os.kill(os.getpid(), signal.SIGKILL)

    def before(rel: str, src) -> None:
        written = os.path.isfile(src) and ".partial" in os.path.basename(src)
        count["replace"] += 1
        count["write"] += written
        os.write(log_fd, (rel + "\n").encode())
        killed_here = (
            kill and kill[2] == "before" and kill[:2] in (["replace", count["replace"]], ["write", count["write"]])
        )
        if killed_here and written:
            os.truncate(src, os.path.getsize(src) // 2)  # as if killed half-way through writing it
        at("replace", "before")
        if written:
            at("write", "before")

    watch_renames(Path(run["out"]), before, lambda rel: at("replace", "after"))
    real_copy2 = shutil.copy2

    def copy2(*a, **kw):
        count["copy"] += 1
        at("copy", "before")
        r = real_copy2(*a, **kw)
        at("copy", "after")
        return r

    shutil.copy2 = copy2
    if "export" in run:
        return _export(run["export"], run["out"])
    from landgui.cli import main

    return main(run["argv"])


def _export(spec: dict, out: str) -> int:
    import pickle

    from landgui.core.base.errors import LandguiError
    from landgui.core.scenes.io import open_scene
    from landgui.core.scenes.writers import export

    result = pickle.loads(Path(spec["result"]).read_bytes())
    scene = open_scene(result.scene)
    try:
        export(result, scene, out, spec["name"], spec["palette"], tuple(spec["formats"]))
    except LandguiError:
        return 2
    finally:
        scene.close()
    return 0


def step(report_fd: str, go_fd: str, out: str, argv_json: str) -> int:
    """Run the CLI, stopping at each rename into ``out`` until the test says go (see the module)."""
    report, go = int(report_fd), int(go_fd)

    def before(rel: str, src) -> None:
        os.write(report, (rel + "\n").encode())
        if not os.read(go, 1):
            os._exit(75)  # the test went away

    watch_renames(Path(out), before, lambda rel: None)
    from landgui.cli import main

    return main(json.loads(argv_json))


def _files(folder: Path) -> dict[str, str]:
    if not folder.is_dir():
        return {}
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def main(spec_path: str, report_path: str) -> None:
    import rasterio  # noqa: F401 - the GeoTIFF writers' library, loaded once rather than in every child

    import landgui.cli  # noqa: F401 - imported once here, before the forks
    import landgui.core.scenes.writers  # noqa: F401

    report: list[dict] = []
    for i, run in enumerate(json.loads(Path(spec_path).read_text())["runs"]):
        if run.get("kill") and run["kill"][1] < 0:
            run["kill"][1] += len(report[0]["renames"]) + 1
        if run.get("copy_from"):  # the folder starts as a copy of an earlier run's (copied here, not counted)
            shutil.copytree(run["copy_from"], run["out"])
        log = Path(report_path).with_suffix(f".renames{i}")
        log_fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        pid = os.fork()
        if pid == 0:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            code = 70
            try:
                code = _child(run, log_fd)
            finally:
                os._exit(code)
        os.close(log_fd)
        _, status = os.waitpid(pid, 0)
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        report.append(
            {
                "exit": "SIGKILL" if killed else os.waitstatus_to_exitcode(status),
                "renames": log.read_text().splitlines(),
                "files": _files(Path(run["out"])),
            }
        )
        log.unlink()
    Path(report_path).write_text(json.dumps(report))


if __name__ == "__main__":
    if sys.argv[1] == "--step":
        sys.exit(step(*sys.argv[2:]))
    main(*sys.argv[1:])
