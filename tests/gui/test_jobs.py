"""The app's job threads: the outcome the core's one classifier decides reaches the GUI thread, and
progress comes in one signature, with training's records on their own channel."""

from landgui.core.base import jobs
from landgui.core.base.errors import LandguiError
from landgui.gui.jobs import JobRegistry


def _raise(exc):
    def job(progress, should_stop):
        raise exc

    return job


def test_a_failure_reaches_the_gui_as_the_core_classifies_it(qtbot):
    registry = JobRegistry()
    got: list[tuple[str, str]] = []
    for exc in (LandguiError("the folder is gone"), ZeroDivisionError("division by zero"), MemoryError()):
        got.clear()
        registry.start(None, "job", _raise(exc), on_failed=lambda m, d: got.append((m, d)))
        qtbot.waitUntil(lambda: bool(got) and not registry.alive())
        expected = jobs.failure(exc)
        [(message, details)] = got
        assert message == expected.message
        assert bool(details) == bool(expected.details)  # a traceback exactly where the core gives one


def test_progress_has_one_signature_and_records_their_own_channel(qtbot):
    registry = JobRegistry()
    progress, records, done = [], [], []

    def job(progress, should_stop, on_record):
        progress("preparing", 1, 2)
        on_record({"kind": "epoch", "record": {"epoch": 1}})
        progress("preparing", 2, 2)
        return "trained"

    registry.start(
        None, "training", job, progress=lambda *a: progress.append(a), record=records.append, on_done=done.append
    )
    qtbot.waitUntil(lambda: bool(done) and not registry.alive())
    assert done == ["trained"]
    assert progress == [("preparing", 1, 2), ("preparing", 2, 2)]
    assert records == [{"kind": "epoch", "record": {"epoch": 1}}]

    plain: list = []
    registry.start(None, "other", lambda progress, should_stop: "no records asked", on_done=plain.append)
    qtbot.waitUntil(lambda: bool(plain) and not registry.alive())
    assert plain == ["no records asked"]
