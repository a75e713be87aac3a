"""Evaluation tab: evaluate a run on a split in a worker; metrics, per-class table, clickable
confusion matrix listing the images of a (true, predicted) pair; runs compared side by side."""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from landgui.gui.common import EtaProgressBar, fill_run_combo, show_error, show_placeholder
from landgui.gui.dataset_tab import thumbnail_pixmap
from landgui.gui.workers import JobWorker

THUMB = 72


class EvaluationTab(QWidget):
    status = Signal(str)

    def __init__(self, runs_dir: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runs_dir = runs_dir
        self.worker: JobWorker | None = None
        self.result: dict | None = None

        self.run_combo = QComboBox()
        self.run_combo.setMinimumWidth(320)
        self.split_combo = QComboBox()
        self.split_combo.addItems(["test", "val", "train"])
        self.eval_button = QPushButton("Evaluate")
        self.eval_button.clicked.connect(self.evaluate)
        refresh = QPushButton("Refresh runs")
        refresh.clicked.connect(self.refresh_runs)
        self.predict_button = QPushButton("Predict images…")
        self.predict_button.setToolTip("class probabilities of any image files with the selected run")
        self.predict_button.clicked.connect(self.choose_images)
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
        top = QHBoxLayout()
        top.addWidget(QLabel("Run:"))
        top.addWidget(self.run_combo, 1)
        top.addWidget(QLabel("Split:"))
        top.addWidget(self.split_combo)
        top.addWidget(self.eval_button)
        top.addWidget(self.folder_button)
        top.addWidget(self.adapt_check)
        top.addWidget(refresh)
        top.addWidget(self.predict_button)
        top.addWidget(self.progress, 1)

        self.headline = QLabel("Choose a run and press Evaluate.")
        self.headline.setTextFormat(Qt.TextFormat.RichText)
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["class", "precision", "recall", "F1", "support"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.figure = Figure(figsize=(5, 4.2), tight_layout=True)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.mpl_connect("button_press_event", self._on_click)
        show_placeholder(
            self.figure, "Pick a run and press Evaluate (or Evaluate on a folder…): the confusion matrix appears here."
        )
        self.cell_label = QLabel("Click a confusion-matrix cell to see its images.")
        self.images = QListWidget()
        self.images.setViewMode(QListView.ViewMode.IconMode)
        self.images.setIconSize(QSize(THUMB, THUMB))
        self.images.setGridSize(QSize(THUMB + 70, THUMB + 40))
        self.images.setResizeMode(QListView.ResizeMode.Adjust)
        self.images.setWordWrap(True)

        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(self.headline)
        lv.addWidget(self.table, 1)
        lv.addWidget(self.cell_label)
        lv.addWidget(self.images, 2)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(self.canvas)
        split.setSizes([600, 640])

        self.compare = QTableWidget(0, 8)
        self.compare.setHorizontalHeaderLabels(
            ["run", "status", "model", "backbone", "size", "epochs", "test acc", "macro F1"]
        )
        self.compare.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        tabs = QTabWidget()
        tabs.addTab(split, "Report")
        tabs.addTab(self.compare, "Compare runs")
        self.inner_tabs = tabs

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(tabs, 1)
        self.refresh_runs()

    def set_runs_dir(self, runs_dir: str) -> None:
        self.runs_dir = runs_dir
        self.refresh_runs()

    def refresh_runs(self, select: str | None = None) -> None:
        from landgui.core.runs import SHIPPED_NAME, run_info, shipped_run_dir

        runs = fill_run_combo(self.run_combo, self.runs_dir, select)
        shipped = run_info(shipped_run_dir())
        runs = runs + ([{**shipped, "name": f"{SHIPPED_NAME} (shipped)"}] if shipped else [])
        folders = sorted({name for r in runs for name in r.get("data_accuracy", {})})
        heads = ["run", "status", "model", "backbone", "size", "epochs", "test acc", "macro F1"]
        self.compare.setColumnCount(len(heads) + len(folders))
        self.compare.setHorizontalHeaderLabels(heads + [f"{f} acc" for f in folders])
        self.compare.setRowCount(0)
        for r in runs:
            row = self.compare.rowCount()
            self.compare.insertRow(row)
            vals = [
                r["name"],
                r["status_text"],
                r["model"],
                r["backbone"],
                r["image_size"],
                r["epochs"],
                "" if r["test_accuracy"] is None else f"{r['test_accuracy']:.4f}",
                "" if r["macro_f1"] is None else f"{r['macro_f1']:.4f}",
                *[f"{r['data_accuracy'][f]:.4f}" if f in r.get("data_accuracy", {}) else "" for f in folders],
            ]
            for c, v in enumerate(vals):
                self.compare.setItem(row, c, QTableWidgetItem(str(v)))

    def evaluate(self) -> None:
        from landgui.core.evaluation import evaluate_run

        run = self.run_combo.currentData()
        if not run:
            show_error(self, "Evaluation", "no run with a model in the runs folder; train one first")
            return
        split = self.split_combo.currentText()
        adapt = self.adapt_check.isChecked()
        self._start(
            lambda progress, should_stop: evaluate_run(
                run, split, progress=progress, should_stop=should_stop, adapt=adapt
            )
        )

    def choose_folder(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        from landgui.gui.common import last_dir, remember_dir

        folder = QFileDialog.getExistingDirectory(self, "Labelled folder to evaluate on", last_dir("eval-folder"))
        if folder:
            remember_dir("eval-folder", folder)
            self.evaluate_folder(folder)

    def evaluate_folder(self, folder: str) -> None:
        """Evaluate the selected run on a class-folder dataset (`landgui evaluate --data`) in a worker.

        Folder classes the model does not know are left out and listed in the report."""
        from landgui.core.evaluation import evaluate_folder

        run = self.run_combo.currentData()
        if not run:
            show_error(self, "Evaluation", "no run with a model in the runs folder; train one first")
            return
        adapt = self.adapt_check.isChecked()
        self._start(
            lambda progress, should_stop: evaluate_folder(
                run, folder, ignore_unknown=True, adapt=adapt, progress=progress, should_stop=should_stop
            )
        )

    def _start(self, job) -> None:
        self.worker = JobWorker(job, self)
        self.worker.progress.connect(self.progress.update_progress)
        self.worker.finished_ok.connect(self.show_result)
        self.worker.failed.connect(self._failed)
        self.worker.cancelled.connect(lambda: self.progress.finish("cancelled"))
        self.eval_button.setEnabled(False)
        self.folder_button.setEnabled(False)
        self.worker.start()

    def _failed(self, message: str, details: str) -> None:
        self.eval_button.setEnabled(True)
        self.folder_button.setEnabled(True)
        self.progress.finish("evaluation failed")
        show_error(self, "Evaluation failed", message, details)

    def show_result(self, result: dict) -> None:
        from landgui.core.evaluation import confusion_figure

        self.result = result
        self.eval_button.setEnabled(True)
        self.folder_button.setEnabled(True)
        self.progress.finish(f"evaluated {result['n_images']} images")
        missing = f" · {len(result['missing'])} missing files not evaluated" if result["missing"] else ""
        if result.get("missing_classes"):
            missing += f" · no images of {', '.join(result['missing_classes'])}"
        if result.get("ignored_classes"):
            missing += f" · ignored unknown classes {', '.join(result['ignored_classes'])}"
        if result.get("skipped"):
            missing += f" · {len(result['skipped'])} unreadable files skipped"
        top2 = f" · top-2 {result['top2_accuracy']:.2%}" if result["top2_accuracy"] is not None else ""
        name = Path(result["data_folder"]).name if result.get("data_folder") else f"{result['split']} split"
        name += " (adapted)" if result.get("adapted") else ""
        self.headline.setText(
            f"<span style='font-size:15pt'><b>{name} accuracy {result['accuracy']:.2%}</b> · "
            f"macro F1 {result['macro_avg']['f1']:.3f}</span><br>balanced accuracy {result['balanced_accuracy']:.2%}"
            f"{top2} · {result['n_images']} images · {len(result['misclassified'])} misclassified{missing}"
        )
        self.table.setRowCount(0)
        for lab in result.get("row_labels") or result["labels"]:
            m = result["per_class"][lab]
            r = self.table.rowCount()
            self.table.insertRow(r)
            for c, v in enumerate(
                [lab, f"{m['precision']:.4f}", f"{m['recall']:.4f}", f"{m['f1']:.4f}", str(m["support"])]
            ):
                self.table.setItem(r, c, QTableWidgetItem(v))
        confusion_figure(result, self.figure)
        self.canvas.draw_idle()
        self.refresh_runs()
        rows = result.get("row_labels") or result["labels"]
        wrong = [
            (i, j)
            for i in range(len(rows))
            for j in range(len(result["labels"]))
            if rows[i] != result["labels"][j] and result["confusion_matrix"][i][j]
        ]
        if wrong:
            self.show_cell(*wrong[0])
        self.status.emit(f"{Path(result['run']).name}: {name} accuracy {result['accuracy']:.2%}")

    def choose_images(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        from landgui.gui.common import last_dir, remember_dir

        files, _ = QFileDialog.getOpenFileNames(
            self, "Images to classify", last_dir("predict"), "Images (*.jpg *.jpeg *.png *.tif *.tiff *.bmp *.webp)"
        )
        if files:
            remember_dir("predict", files[0])
            self.predict(files)

    def predict(self, paths: list[str]) -> None:
        """Classify image files with the selected run (the CLI's `landgui predict`) in a worker."""
        from landgui.core.inference import predict_files

        run = self.run_combo.currentData()
        if not run:
            show_error(self, "Predict", "no run with a model in the runs folder; train one first")
            return
        self.worker = JobWorker(lambda progress, should_stop: predict_files(run, paths, progress, should_stop), self)
        self.worker.progress.connect(self.progress.update_progress)
        self.worker.finished_ok.connect(self.show_predictions)
        self.worker.failed.connect(self._failed)
        self.worker.start()

    def show_predictions(self, out: dict) -> None:
        self.progress.finish(f"classified {len(out['predictions'])} images")
        self.inner_tabs.setCurrentIndex(0)
        self.cell_label.setText(
            f"predictions for {len(out['predictions'])} images (hover for all probabilities)"
            + (f"; {len(out['errors'])} could not be read" if out["errors"] else "")
        )
        self.images.clear()
        for r in out["predictions"]:
            item = QListWidgetItem(QIcon(thumbnail_pixmap(r["path"], THUMB)), f"{r['pred']}\n{r['confidence']:.2f}")
            item.setToolTip(r["path"] + "\n" + "\n".join(f"{k}: {v:.4f}" for k, v in r["probs"].items()))
            self.images.addItem(item)
        self.predictions = out

    def _on_click(self, event) -> None:
        if self.result is None or event.inaxes is None or event.xdata is None:
            return
        j, i = int(round(event.xdata)), int(round(event.ydata))
        n_rows = len(self.result.get("row_labels") or self.result["labels"])
        if 0 <= i < n_rows and 0 <= j < len(self.result["labels"]):
            self.show_cell(i, j)

    def show_cell(self, i: int, j: int) -> None:
        """List the images of confusion row i (true class) predicted as class j, most confident first."""
        res = self.result
        assert res is not None
        t, p = (res.get("row_labels") or res["labels"])[i], res["labels"][j]
        preds = sorted(
            (x for x in res["predictions"] if x["true"] == t and x["pred"] == p), key=lambda x: -x["confidence"]
        )
        self.cell_label.setText(f"true <b>{t}</b> predicted <b>{p}</b>: {len(preds)} images (most confident first)")
        self.images.clear()
        root = Path(res["dataset_root"])
        for x in preds[:200]:
            item = QListWidgetItem(
                QIcon(thumbnail_pixmap(root / x["path"], THUMB)), f"{Path(x['path']).name}\n{x['confidence']:.2f}"
            )
            item.setToolTip(x["path"])
            self.images.addItem(item)
        self.selected_cell = (i, j)
