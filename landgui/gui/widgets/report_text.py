"""The Evaluation tab's report in words: the headline over an evaluation (accuracy, macro F1,
balanced and top-2 accuracy, what was left out and why) and the per-class table."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QTableWidget, QTableWidgetItem

from landgui.gui.widgets.common import skipped_parts


def headline(result: dict) -> tuple[str, str]:
    """The headline's rich text, and the name of what was evaluated (``test split``, a folder's
    name, ``held-out source NAME``; `` (adapted)`` when adapted)."""
    missing = f" · {len(result['missing'])} missing files not evaluated" if result["missing"] else ""
    if result.get("missing_classes"):
        missing += f" · no images of {', '.join(result['missing_classes'])}"
    if result.get("ignored_classes"):
        missing += f" · ignored unknown classes {', '.join(result['ignored_classes'])}"
    unreadable, ignored = skipped_parts(result.get("skipped") or [], "unreadable files skipped")
    missing += "".join(f" · {part}" for part in (unreadable, ignored) if part)  # a README.txt is not unreadable
    top2 = f" · top-2 {result['top2_accuracy']:.2%}" if result["top2_accuracy"] is not None else ""
    name = Path(result["data_folder"]).name if result.get("data_folder") else f"{result['split']} split"
    held = result.get("held_out_source")
    name = f"held-out source {held}" if held else name
    name += " (adapted)" if result.get("adapted") else ""
    never_seen = (
        f"<br>every image of {held}, a sensor the model never saw: trained and selected on the other sources only"
        if held
        else ""
    )
    per_source = " · ".join(f"{n} {ps['accuracy']:.2%}" for n, ps in (result.get("per_source") or {}).items())
    html = (
        f"<span style='font-size:15pt'><b>{name} accuracy {result['accuracy']:.2%}</b> · "
        f"macro F1 {result['macro_avg']['f1']:.3f}</span><br>balanced accuracy {result['balanced_accuracy']:.2%}"
        f"{top2} · {result['n_images']} images · {len(result['misclassified'])} misclassified{missing}"
        + (f"<br>per source: {per_source} (see Per source)" if per_source else "")
        + never_seen
    )
    return html, name


def fill_class_table(table: QTableWidget, result: dict) -> None:
    """One row per class: precision, recall, F1 and support."""
    table.setRowCount(0)
    for lab in result.get("row_labels") or result["labels"]:
        m = result["per_class"][lab]
        r = table.rowCount()
        table.insertRow(r)
        for c, v in enumerate(
            [lab, f"{m['precision']:.4f}", f"{m['recall']:.4f}", f"{m['f1']:.4f}", str(m["support"])]
        ):
            table.setItem(r, c, QTableWidgetItem(v))
