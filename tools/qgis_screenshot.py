"""Screenshot of an exported class map opened by QGIS itself with the style landgui writes beside it.

    apt-get install -y qgis python3-qgis
    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tools/qgis_screenshot.py

Run with the system Python that has the ``qgis`` module (not the venv); landgui itself runs from
the venv (``.venv/bin/landgui``). Steps:

1. The Blue Marble demo scene (``bmng.jpg``: the whole globe, 5,400 x 2,700 px, plate carree)
   is a plain JPEG; it is georeferenced as a GeoTIFF in EPSG:4326 (-180..180, -90..90) with
   GDAL, since the geo outputs are written for georeferenced scenes only.
2. ``landgui segment RUN bmng.tif --formats geotiff,gpkg`` maps it.
3. QGIS opens ``bmng.classes.tif`` as a raster layer: it applies ``bmng.classes.qml`` by itself
   (checked: paletted renderer, the class names as labels) and the GeoPackage is opened as a
   vector layer (checked: valid, its fields, as many polygons as the file holds).
4. A print layout with the map, a legend and a title is exported to PNG.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def georeference_demo(work: Path) -> Path:
    """The Blue Marble demo scene as a GeoTIFF in EPSG:4326 (the image spans the whole globe)."""
    from osgeo import gdal

    gdal.UseExceptions()
    venv_python = ROOT / ".venv" / "bin" / "python"
    src = subprocess.run(
        [str(venv_python), "-c", "from landgui.core.scenes import demo_scene_path; print(demo_scene_path())"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    work.mkdir(parents=True, exist_ok=True)
    dst = work / "bmng.tif"
    gdal.Translate(
        str(dst),
        src,
        format="GTiff",
        outputSRS="EPSG:4326",
        outputBounds=[-180, 90, 180, -90],  # upper left x, y, lower right x, y
        creationOptions=["TILED=YES", "COMPRESS=DEFLATE"],
    )
    return dst


def segment(run: Path, scene: Path, out: Path) -> dict:
    """Map the scene with the venv's landgui; returns the files it wrote (from the summary)."""
    landgui = ROOT / ".venv" / "bin" / "landgui"
    cmd = [str(landgui), "segment", str(run), str(scene), "--out", str(out), "--formats", "geotiff,gpkg", "--quiet"]
    subprocess.run(cmd, check=True)
    return json.loads((out / f"{scene.stem}.summary.json").read_text())


def render(classes_tif: Path, gpkg: Path, classes: list[str], png: Path, title: str, subtitle: str) -> None:
    """Open the maps in QGIS, check the style was applied, export the layout to ``png``."""
    from qgis.core import QgsApplication, QgsProject

    app = QgsApplication([], False)
    app.setPrefixPath("/usr", True)
    app.initQgis()
    try:
        _check_and_export(classes_tif, gpkg, classes, png, title, subtitle)
    finally:
        QgsProject.instance().clear()  # every QGIS object gone before QGIS itself (else a crash at exit)
        app.exitQgis()


def _check_and_export(classes_tif: Path, gpkg: Path, classes: list[str], png: Path, title: str, subtitle: str) -> None:
    from osgeo import gdal  # the GDAL QGIS runs on
    from qgis.core import (
        Qgis,
        QgsCoordinateReferenceSystem,
        QgsLayoutExporter,
        QgsLayoutItemLabel,
        QgsLayoutItemLegend,
        QgsLayoutItemMap,
        QgsLayoutPoint,
        QgsLayoutSize,
        QgsLegendRenderer,
        QgsLegendStyle,
        QgsPrintLayout,
        QgsProject,
        QgsRasterLayer,
        QgsUnitTypes,
        QgsVectorLayer,
    )
    from qgis.PyQt.QtGui import QFont

    layer = QgsRasterLayer(str(classes_tif), "land cover", "gdal")  # loads the .qml beside it
    if not layer.isValid():
        raise SystemExit(f"QGIS cannot open {classes_tif}")
    renderer = layer.renderer()
    labels = [c.label for c in renderer.classes()] if renderer.type() == "paletted" else []
    print(f"QGIS {Qgis.QGIS_VERSION}: renderer {renderer.type()}, classes {labels}")
    # without the .qml QGIS would build a 256-entry palette from the colour table (values 4..253
    # as black "4".."253"); the style lists exactly the classes and uncertain
    if renderer.type() != "paletted" or labels != [*classes, "uncertain"]:
        raise SystemExit("QGIS did not apply the .qml style written beside the class map")
    polygons = QgsVectorLayer(f"{gpkg}|layername=classes", "polygons", "ogr")
    if not polygons.isValid():
        raise SystemExit(f"QGIS cannot open {gpkg}")
    print(
        f"GeoPackage: {polygons.featureCount()} polygons, fields {polygons.fields().names()}, "
        f"CRS {polygons.crs().authid()}"
    )
    del polygons

    project = QgsProject.instance()
    project.setCrs(QgsCoordinateReferenceSystem("EPSG:4326"))
    project.addMapLayer(layer)

    mm = QgsUnitTypes.LayoutMillimeters
    layout = QgsPrintLayout(project)
    layout.initializeDefaults()
    layout.pageCollection().page(0).setPageSize(QgsLayoutSize(320, 140, mm))
    for text, size, y in ((title, 14, 3), (subtitle, 10, 10)):
        label = QgsLayoutItemLabel(layout)
        label.setText(text)
        label.setFont(QFont("DejaVu Sans", size))
        label.attemptMove(QgsLayoutPoint(6, y, mm))
        label.attemptResize(QgsLayoutSize(290, 8, mm))
        layout.addLayoutItem(label)

    map_item = QgsLayoutItemMap(layout)
    map_item.attemptMove(QgsLayoutPoint(6, 16, mm))
    map_item.attemptResize(QgsLayoutSize(236, 118, mm))
    map_item.setCrs(QgsCoordinateReferenceSystem("EPSG:4326"))
    map_item.setLayers([layer])
    map_item.setExtent(layer.extent())
    map_item.setFrameEnabled(True)
    layout.addLayoutItem(map_item)

    legend = QgsLayoutItemLegend(layout)
    legend.setTitle("Land cover")
    legend.setLinkedMap(map_item)
    legend.setAutoUpdateModel(False)
    node = legend.model().rootGroup().findLayer(layer.id())
    QgsLegendRenderer.setNodeLegendStyle(node, QgsLegendStyle.Hidden)  # the title says it
    legend.attemptMove(QgsLayoutPoint(246, 16, mm))
    layout.addLayoutItem(legend)

    exporter = QgsLayoutExporter(layout)
    settings = QgsLayoutExporter.ImageExportSettings()
    settings.dpi = 150
    png.parent.mkdir(parents=True, exist_ok=True)
    gdal.PushErrorHandler("CPLQuietErrorHandler")  # QGIS tries to georeference the PNG in place
    try:
        result = exporter.exportToImage(str(png), settings)
    finally:
        gdal.PopErrorHandler()
    if result != QgsLayoutExporter.Success:
        raise SystemExit(f"QGIS could not export the layout ({result})")
    print(f"wrote {png}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, default=ROOT / "bench" / "out" / "build-default" / "run")
    ap.add_argument("--work", type=Path, default=Path("/tmp/qgisdemo"), help="folder for the scene and the maps")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots" / "qgis-class-map.png")
    ap.add_argument("--reuse", action="store_true", help="reuse the maps already in --work (no re-mapping)")
    args = ap.parse_args(argv)
    summary_path = args.work / "maps" / "bmng.summary.json"
    if args.reuse and summary_path.exists():
        summary = json.loads(summary_path.read_text())
    else:
        summary = segment(args.run, georeference_demo(args.work), args.work / "maps")
    files = summary["files"]
    shares = ", ".join(f"{k} {v:.0%}" for k, v in summary["coverage"].items())
    title = "landgui class map of the Blue Marble, opened in QGIS"
    subtitle = f"{Path(files['geotiff']).name} styled by {Path(files['qgis_style']).name}; area: {shares}"
    render(Path(files["geotiff"]), Path(files["gpkg"]), summary["labels"], args.out, title, subtitle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
