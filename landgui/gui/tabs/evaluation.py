"""Evaluation tab: evaluate a run on a split (or on the source it held out) in a worker; metrics,
per-class and per-source tables, clickable confusion matrix listing the images of a (true,
predicted) pair; runs compared side by side."""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from landgui.core.evaluation.report import confusion_figure
from landgui.core.runs.folder import SHIPPED_NAME, shipped_run_dir
from landgui.core.runs.listing import RunSummary
from landgui.gui.jobs import JobRegistry, JobTab, JobWorker, ProcessJobWorker
from landgui.gui.state.app_state import AppState
from landgui.gui.widgets.common import (
    EtaProgressBar,
    FormScroll,
    fill_run_combo,
    hbox,
    last_dir,
    remember_dir,
    show_error,
    show_placeholder,
    table_height,
)
from landgui.gui.widgets.compare_runs import CompareRunsTable
from landgui.gui.widgets.per_source_table import PerSourceTable
from landgui.gui.widgets.prediction_list import INFO_ROLE, PredictionList
from landgui.gui.widgets.report_text import fill_class_table, headline

EVALUATION_JOB = "evaluation"  # evaluate, evaluate on a folder and predict run one at a time
__all__ = ["EVALUATION_JOB", "INFO_ROLE", "EvaluationTab"]
HOLDOUT = "holdout-"  # the Split box's data for "held-out source NAME" (evaluation-holdout-NAME.json)


class EvaluationTab(JobTab):
    status = Signal(str)

    def __init__(
        self, state: AppState | None = None, jobs: JobRegistry | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(state, jobs, parent)
        self.result: dict | None = None

        self.run_combo = QComboBox()
        self.run_combo.setMinimumWidth(200)
        self.run_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.split_combo = QComboBox()  # the splits, and the source the run held out (if it did)
        self.split_combo.setToolTip(
            "the split to evaluate on; for a run trained with a source held out, also every image of that source"
        )
        self.split_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self._fill_split_combo(None)
        self.eval_button = QPushButton("Evaluate")
        self.eval_button.clicked.connect(self.evaluate)
        refresh = QPushButton("Refresh runs")
        refresh.clicked.connect(lambda: self.state.refresh_runs())  # every tab's run lists follow
        self.predict_button = QPushButton("Predict images…")
        self.predict_button.setToolTip("class probabilities of any image files with the selected run")
        self.predict_button.clicked.connect(self.choose_images)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("stop the running evaluation or prediction")
        self.cancel_button.clicked.connect(lambda: self.jobs.cancel(EVALUATION_JOB))
        self.folder_button = QPushButton("Evaluate on a folder…")
        self.folder_button.setToolTip(
            "evaluate the run on any folder of labelled images (one sub-folder per class, named like the "
            "model's classes), e.g. patches of your own scenes from another satellite"
        )
        self.folder_button.clicked.connect(self.choose_folder)
        self.adapt_check = QCheckBox("adapt")
        self.adapt_check.setToolTip(
            "adapt the model to the evaluated images first (batch-norm statistics, no labels used; the run is not changed)"
        )
        self.progress = EtaProgressBar()
        top = hbox(QLabel("Run:"), self.run_combo, refresh, QLabel("Split:"), self.split_combo)  # two rows:
        top.setStretch(1, 1)  # the window fits a small screen
        actions = hbox(self.eval_button, self.folder_button, self.adapt_check, self.predict_button, self.cancel_button)
        actions.addWidget(self.progress, 1)

        self.headline = QLabel("Choose a run and press Evaluate.")
        self.headline.setTextFormat(Qt.TextFormat.RichText)
        self.headline.setWordWrap(True)  # a long line of figures must not widen the panel
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["class", "precision", "recall", "F1", "support"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.source_table = PerSourceTable()
        self.report_tabs = QTabWidget()
        self.report_tabs.addTab(self.table, "Per class")
        self.report_tabs.addTab(self.source_table, "Per source")
        self.report_tabs.setTabVisible(1, False)  # only for an evaluation of several sources
        self.figure = Figure(figsize=(5, 4.2), tight_layout=True)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.mpl_connect("button_press_event", self._on_click)
        show_placeholder(
            self.figure, "Pick a run and press Evaluate (or Evaluate on a folder…): the confusion matrix appears here."
        )
        self.prediction_list = PredictionList()
        self.prediction_list.export_name = lambda: f"predictions-{Path(self.run_combo.currentData() or 'run').name}.csv"
        self.prediction_list.status.connect(self.status)
        pl = self.prediction_list  # its widgets, as the tests and tools name them
        self.images, self.cell_label, self.export_button, self.thumbs = (
            pl.images,
            pl.cell_label,
            pl.export_button,
            pl.thumbs,
        )
        self._cell_patch = None
        self.selected_cell: tuple[int, int] | None = None
        self.predictions: dict | None = None

        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 4, 0)
        lv.addWidget(self.headline)
        lv.addWidget(self.report_tabs, 1)
        lv.addWidget(self.prediction_list, 2)
        left.setMinimumSize(360, 420)
        self.left_scroll = FormScroll(left)  # the report stays readable in a small window: it scrolls
        split = QSplitter()
        split.addWidget(self.left_scroll)
        split.addWidget(self.canvas)
        split.setSizes([600, 640])

        self.compare = CompareRunsTable()
        tabs = QTabWidget()
        tabs.addTab(split, "Report")
        tabs.addTab(self.compare, "Compare runs")
        self.inner_tabs = tabs

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(actions)
        layout.addWidget(tabs, 1)
        self.follow_state()
        self.run_combo.currentIndexChanged.connect(lambda _: self._fill_split_combo(self._held_out_source()))

    def _sync_buttons(self) -> None:
        busy = self.jobs.busy(EVALUATION_JOB)
        for b in (self.eval_button, self.folder_button, self.predict_button):
            b.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)

    def _follow_run(self, run: str) -> None:
        i = self.run_combo.findData(run)
        if i >= 0 and i != self.run_combo.currentIndex():
            self.run_combo.setCurrentIndex(i)

    def refresh_runs(self, select: str | None = None) -> None:
        """Refill the Run box and the comparison from the state's runs (``select``, else the
        state's run, is chosen)."""

        runs = fill_run_combo(self.run_combo, self.state.runs, select or self.state.run)
        self.state.set_run(self.run_combo.currentData())
        self._fill_split_combo(self._held_out_source())
        shipped = RunSummary.read(shipped_run_dir())
        self.compare.show_runs(runs + ([shipped.named(f"{SHIPPED_NAME} (shipped)")] if shipped else []))

    def _held_out_source(self) -> str | None:
        """The source the selected run held out in training (from the state's run list)."""
        run = self.state.summary(self.run_combo.currentData())
        return run.hold_out_source if run is not None else None

    def _fill_split_combo(self, held: str | None) -> None:
        """test / val / train, and "held-out source NAME" for a run that held one out."""
        current = self.split_combo.currentData()
        blocked = self.split_combo.blockSignals(True)
        self.split_combo.clear()
        for name in ("test", "val", "train"):
            self.split_combo.addItem(name, name)
        if held:
            self.split_combo.addItem(f"held-out source {held}", f"{HOLDOUT}{held}")
            self.split_combo.setItemData(
                3, f"every image of {held}: the run was trained and selected without it", Qt.ItemDataRole.ToolTipRole
            )
        self.split_combo.setCurrentIndex(max(self.split_combo.findData(current), 0))
        self.split_combo.blockSignals(blocked)

    def evaluate(self) -> None:
        run = self.run_combo.currentData()
        if not run:
            show_error(self, "Evaluation", "no run with a model in the runs folder; train one first")
            return
        split = self.split_combo.currentData() or "test"
        if split.startswith(HOLDOUT):  # every image of the source the run never saw
            if self.adapt_check.isChecked():
                self.status.emit("adapt is not offered on a held-out source: evaluated as trained")
            source = split[len(HOLDOUT) :]
            self._start("landgui.core.evaluation.evaluate:evaluate_source", {"run_dir": run, "source": source})
            return
        adapt = self.adapt_check.isChecked()
        self._start("landgui.core.evaluation.evaluate:evaluate_run", {"run_dir": run, "split": split, "adapt": adapt})

    def choose_folder(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        folder = QFileDialog.getExistingDirectory(self, "Labelled folder to evaluate on", last_dir("eval-folder"))
        if folder:
            remember_dir("eval-folder", folder)
            self.evaluate_folder(folder)

    def evaluate_folder(self, folder: str) -> None:
        """Evaluate the selected run on a class-folder dataset (`landgui evaluate --data`) in a worker.

        Folder classes the model does not know are left out and listed in the report."""
        run = self.run_combo.currentData()
        if not run:
            show_error(self, "Evaluation", "no run with a model in the runs folder; train one first")
            return
        adapt = self.adapt_check.isChecked()
        self._start(
            "landgui.core.evaluation.evaluate:evaluate_folder",
            {"run_dir": run, "folder": folder, "ignore_unknown": True, "adapt": adapt},
        )

    def _start(self, target: str, kwargs: dict, on_done=None, label: str = "evaluation") -> JobWorker | None:
        """Start an evaluation or prediction (``"module:function"`` called with ``kwargs``) in a
        child process, through the registry (one at a time): TensorFlow's import, a model's
        conversion to LiteRT and LiteRT's set-up hold the GIL for up to a second, which froze the
        window when they ran in a thread."""
        return self.jobs.start(
            self,
            EVALUATION_JOB,
            ProcessJobWorker(target, kwargs, self),
            label=label,
            on_done=on_done or self.show_result,
            on_failed=self._failed,
            on_cancelled=lambda: self.progress.finish("cancelled"),
            progress=self.progress.update_progress,
        )

    def _failed(self, message: str, details: str) -> None:
        self.progress.finish("evaluation failed")
        show_error(self, "Evaluation failed", message, details)

    def show_result(self, result: dict) -> None:
        self.result = result
        self.progress.finish(f"evaluated {result['n_images']} images")
        html, name = headline(result)
        self.headline.setText(html)
        fill_class_table(self.table, result)
        several = self.source_table.show_result(result)
        self.report_tabs.setTabVisible(1, several)
        bar = self.report_tabs.tabBar().sizeHint().height()
        shown = [self.table, self.source_table] if several else [self.table]  # every row, the panel scrolls
        self.report_tabs.setMinimumHeight(max(table_height(t) for t in shown) + bar + 8)
        if not several:
            self.report_tabs.setCurrentIndex(0)
        confusion_figure(result, self.figure)
        self._cell_patch = None  # the figure was cleared: no cell outlined yet
        self.selected_cell = None
        self.canvas.draw_idle()
        self.state.refresh_runs()  # the comparison shows this evaluation
        rows = result.get("row_labels") or result["labels"]
        wrong = [
            (i, j)
            for i in range(len(rows))
            for j in range(len(result["labels"]))
            if rows[i] != result["labels"][j] and result["confusion_matrix"][i][j]
        ]
        if wrong:
            self.show_cell(*wrong[0])
        else:
            self._list_images([], "no image was misclassified; click a confusion-matrix cell to see its images")
        self.status.emit(f"{Path(result['run']).name}: {name} accuracy {result['accuracy']:.2%}")

    def choose_images(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        files, _ = QFileDialog.getOpenFileNames(
            self, "Images to classify", last_dir("predict"), "Images (*.jpg *.jpeg *.png *.tif *.tiff *.bmp *.webp)"
        )
        if files:
            remember_dir("predict", files[0])
            self.predict(files)

    def predict(self, paths: list[str]) -> None:
        """Classify image files with the selected run (the CLI's `landgui predict`) in a worker."""
        run = self.run_combo.currentData()
        if not run:
            show_error(self, "Predict", "no run with a model in the runs folder; train one first")
            return
        self._start(
            "landgui.core.inference.predictors:predict_files",
            {"run_dir": run, "paths": [str(p) for p in paths]},
            self.show_predictions,
            label="predict",
        )

    def show_predictions(self, out: dict) -> None:
        self.progress.finish(f"classified {len(out['predictions'])} images")
        self.inner_tabs.setCurrentIndex(0)
        self.predictions = out
        self._outline_cell(None)
        self._list_images(
            [{**r, "path": str(r["path"])} for r in out["predictions"]],
            f"predictions for {len(out['predictions'])} images (double-click one to enlarge it)"
            + (f"; {len(out['errors'])} could not be read" if out["errors"] else ""),
        )

    def _on_click(self, event) -> None:
        if self.result is None or event.inaxes is None or event.xdata is None:
            return
        j, i = int(round(event.xdata)), int(round(event.ydata))
        n_rows = len(self.result.get("row_labels") or self.result["labels"])
        if 0 <= i < n_rows and 0 <= j < len(self.result["labels"]):
            self.show_cell(i, j)

    def show_cell(self, i: int, j: int) -> None:
        """List the images of confusion row i (true class) predicted as class j, most confident
        first, and outline that cell of the matrix."""
        res = self.result
        assert res is not None
        t, p = (res.get("row_labels") or res["labels"])[i], res["labels"][j]
        preds = sorted(
            (x for x in res["predictions"] if x["true"] == t and x["pred"] == p), key=lambda x: -x["confidence"]
        )
        root = Path(res["dataset_root"])
        rows = [
            {**x, "path": str(root / x["path"]), "probs": dict(zip(res["labels"], x["probs"], strict=True))}
            for x in preds
        ]
        shown = f" ({len(preds) - 200} more not shown)" if len(preds) > 200 else ""
        self._list_images(
            rows,
            f"true <b>{t}</b> predicted <b>{p}</b>: {len(preds)} image{'' if len(preds) == 1 else 's'}"
            f" (most confident first){shown}",
        )
        self._outline_cell((i, j))

    def _outline_cell(self, cell: tuple[int, int] | None) -> None:
        """Outline the clicked confusion-matrix cell (None: no outline)."""
        from matplotlib.patches import Rectangle

        if self._cell_patch is not None:
            self._cell_patch.remove()
            self._cell_patch = None
        self.selected_cell = cell
        if cell is not None and self.figure.axes:
            i, j = cell
            self._cell_patch = self.figure.axes[0].add_patch(
                Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="#D55E00", linewidth=3, zorder=5)
            )
        self.canvas.draw_idle()

    # -- the image list (widgets.prediction_list) ----------------------------------------------------
    def _list_images(self, rows: list[dict], text: str) -> None:
        self.prediction_list.show_images(rows, text)

    @property
    def listed(self) -> list[dict]:
        """The predictions the image list shows (all of them, for the CSV export)."""
        return self.prediction_list.listed

    @property
    def preview(self):
        """The last enlarged image's dialog."""
        return self.prediction_list.preview

    def enlarge(self, item) -> None:
        """Enlarge an image of the list (:meth:`PredictionList.enlarge`)."""
        self.prediction_list.enlarge(item)
