"""The window at small sizes: the forms scroll instead of being squeezed, nothing is cut at
1024 x 700, and empty plots say what to do instead of showing 0..1 axes."""

from PySide6.QtWidgets import QLineEdit, QPushButton, QScrollArea


def _tabs(w):
    return {
        "dataset": (w.dataset_tab, w.dataset_tab.left_scroll),
        "training": (w.training_tab, w.training_tab.left_scroll),
        "evaluation": (w.evaluation_tab, w.evaluation_tab.left_scroll),
        "scene": (w.scene_tab, w.scene_tab.side_scroll),
    }


def _show(qtbot, w, tab, size):
    w.resize(*size)
    w.tabs.setCurrentWidget(tab)
    qtbot.wait(30)


def test_forms_scroll_in_a_small_window(window, qtbot):
    hint = window.minimumSizeHint()
    assert hint.width() <= 640 and hint.height() <= 400, f"the window cannot be made small: {hint.toTuple()}"
    for name, (tab, scroll) in _tabs(window).items():
        assert isinstance(scroll, QScrollArea) and tab.isAncestorOf(scroll), name
        _show(qtbot, window, tab, (640, 400))
        assert window.size().toTuple() == (640, 400)
        inner = scroll.widget()
        assert inner.height() >= inner.minimumSizeHint().height(), f"{name}: the form is squeezed"
        assert scroll.verticalScrollBar().maximum() > 0, f"{name}: the form scrolls"


def test_nothing_is_cut_at_1024_by_700(window, qtbot):
    for name, (tab, _) in _tabs(window).items():
        _show(qtbot, window, tab, (1024, 700))
        assert window.size().toTuple() == (1024, 700)
        for button in tab.findChildren(QPushButton):
            if button.isVisibleTo(tab) and button.text():
                text = button.fontMetrics().horizontalAdvance(button.text().replace("&", ""))
                assert button.width() >= text + 8, f"{name}: {button.text()!r} is cut"
        for edit in tab.findChildren(QLineEdit):
            if edit.isVisibleTo(tab) and not edit.parent().inherits("QAbstractSpinBox"):
                assert edit.width() >= 150, f"{name}: a path field is {edit.width()} px wide"


def test_empty_plots_show_a_hint_not_axes(window):
    for figure in (window.dataset_tab.figure, window.evaluation_tab.figure):
        assert not [ax for ax in figure.axes if ax.get_visible()]
        assert any(t.get_text() for t in figure.texts)
    curves = window.training_tab.curves
    assert not curves.ax_loss.get_visible() and not curves.ax_acc.get_visible()
    assert curves.empty_text.get_visible() and "Start" in curves.empty_text.get_text()


def test_a_long_progress_text_is_one_line_cut_in_the_middle(window, qtbot):
    """A finished training's text named its folder and wrapped into the bar, clipped."""
    bar = window.training_tab.progress
    window.resize(1024, 700)
    window.tabs.setCurrentWidget(window.training_tab)
    qtbot.wait(50)
    long = "completed: 15 epochs, best val accuracy 0.9444 — " + "/a-long-folder" * 20 + "/my-first-model"
    bar.finish(long)
    shown = bar.text()
    assert bar.format() == long and bar.toolTip() == long
    assert "…" in shown and shown.startswith("completed: 15") and shown.endswith("my-first-model")
    assert bar.fontMetrics().horizontalAdvance(shown) <= bar.width()


def test_a_new_run_starts_on_empty_curves(window, monkeypatch):
    """Issue 13, item 2: the new run's points were joined onto the previous run's curves."""
    tab = window.training_tab
    tab.curves.set_history([{"epoch": 1, "loss": 1.0, "val_loss": 1.1, "accuracy": 0.5, "val_accuracy": 0.4}])
    assert tab.curves.epochs
    started = []
    monkeypatch.setattr(tab.jobs, "start", lambda *a, **k: started.append(a) or None)
    tab._launch("landgui.core.training.trainer:train", {"run_dir": str(window.state.runs_dir) + "/new"})
    assert started and tab.curves.epochs == []
