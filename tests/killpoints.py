"""Kill a landgui command at a chosen point of its writing, for tests/test_reliability.py.

``python killpoints.py SPEC.json REPORT.json`` runs each of SPEC's runs in turn, each in a child
forked from this process, and writes what it saw to REPORT.json. A run is
``{"argv": [...], "out": FOLDER, "kill": null | [EVENT, K, "before" | "after"]}``: the child runs
``landgui.cli.main(argv)`` and sends itself SIGKILL just before or just after the K-th (1-based)
EVENT; a negative K counts from the end of the first run's renames (-1: its last one). EVENT is
``"replace"``, an ``os.replace`` whose target lies in FOLDER (a file or folder taking its final
name; killed before it, the file about to be renamed is first cut to half its size, as if the kill
came half-way through writing it), or ``"copy"``, a ``shutil.copy2``. The kill points are counted,
not timed, so they do not depend on the machine's speed. The report gives, per run, ``"exit"``
(the exit code, or ``"SIGKILL"``), ``"renames"`` (the targets of the renames into FOLDER, in
order, relative to it) and ``"files"`` (every file under FOLDER, hidden ones included: relative
path -> sha256).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sys
from pathlib import Path


def _child(run: dict, log_fd: int) -> int:
    out = Path(run["out"]).resolve()
    kill = run.get("kill")
    count = {"replace": 0, "copy": 0}

    def at(event: str, when: str) -> None:
        if kill and kill[0] == event and kill[1] == count[event] and kill[2] == when:
            os.kill(os.getpid(), signal.SIGKILL)

    real_replace, real_copy2 = os.replace, shutil.copy2

    def replace(src, dst, *a, **kw):
        target = Path(dst).resolve()
        if not target.is_relative_to(out):
            return real_replace(src, dst, *a, **kw)
        count["replace"] += 1
        os.write(log_fd, (str(target.relative_to(out)) + "\n").encode())
        if kill and kill[:2] == ["replace", count["replace"]] and kill[2] == "before" and os.path.isfile(src):
            os.truncate(src, os.path.getsize(src) // 2)  # as if killed half-way through writing it
        at("replace", "before")
        real_replace(src, dst, *a, **kw)
        at("replace", "after")

    def copy2(*a, **kw):
        count["copy"] += 1
        at("copy", "before")
        r = real_copy2(*a, **kw)
        at("copy", "after")
        return r

    os.replace, shutil.copy2 = replace, copy2
    from landgui.cli import main

    return main(run["argv"])


def _files(folder: Path) -> dict[str, str]:
    if not folder.is_dir():
        return {}
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def main(spec_path: str, report_path: str) -> None:
    import landgui.cli  # noqa: F401 - imported once here, before the forks

    report: list[dict] = []
    for i, run in enumerate(json.loads(Path(spec_path).read_text())["runs"]):
        if run.get("kill") and run["kill"][1] < 0:
            run["kill"][1] += len(report[0]["renames"]) + 1
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
    main(*sys.argv[1:])
