"""Sentinel-2 products as ESA delivers them: a ``.SAFE`` folder, or the ``.zip`` that holds one.

The red, green and blue bands (B04, B03, B02) are picked at 10 m: the ``R10m`` folder of a
Level-2A product, the ``IMG_DATA`` folder of a Level-1C one. They are JPEG 2000 files, read by
GDAL's JP2OpenJPEG driver as the rasterio wheel ships it, through a small VRT (an XML text, not a
file) that stacks them as one 3-band scene named B04, B03, B02 with their reflectance scale and
offset. Those come from the product's metadata (``MTD_MSIL2A.xml``: ``BOA_QUANTIFICATION_VALUE``
and, since processing baseline 04.00, ``BOA_ADD_OFFSET`` of -1000; ``MTD_MSIL1C.xml``:
``QUANTIFICATION_VALUE`` and ``RADIO_ADD_OFFSET``); a product without an offset gets none. A zip
is read where it lies (GDAL's ``/vsizip/``): nothing is unpacked.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
import zipfile
from html import escape
from pathlib import Path

from landgui.core.base.errors import LandguiError
from landgui.core.scenes.radiometry import S2_QUANTIFICATION

S2_RGB = ("B04", "B03", "B02")
S2_BAND_IDS = {"B02": "1", "B03": "2", "B04": "3"}  # band_id in the metadata: B01 is 0, B02 is 1, ...
_BAND_FILE = re.compile(r"/IMG_DATA/(?:R10m/)?[^/]*_(B0[234])(?:_10m)?\.jp2$", re.IGNORECASE)
MAX_METADATA_BYTES = 16 * 1024 * 1024  # an MTD_MSI*.xml is well under 1 MB


def is_safe(path: Path) -> bool:
    """True for a ``.SAFE`` folder, or a ``.zip`` whose members sit in one."""
    if path.is_dir():
        return path.suffix.upper() == ".SAFE" or any(path.glob("MTD_MSIL*.xml"))
    if path.suffix.lower() == ".zip" and path.is_file():
        try:
            with zipfile.ZipFile(path) as z:
                return any(".SAFE/" in n.upper() for n in z.namelist()[:50])
        except (zipfile.BadZipFile, OSError):
            return False
    return False


def safe_vrt(path: Path) -> str:
    """The VRT (XML text, for ``rasterio.open``) of a SAFE folder's or zip's B04, B03, B02 at 10 m."""
    members, metadata = _members(path)
    bands: dict[str, str] = {}
    for m in sorted(members):
        hit = _BAND_FILE.search("/" + m.replace("\\", "/"))
        if hit and ("/R10m/" in m or "/IMG_DATA/R" not in m):
            bands.setdefault(hit.group(1).upper(), m)
    missing = [b for b in S2_RGB if b not in bands]
    if missing:
        raise LandguiError(
            f"{path.name}: no 10 m {', '.join(missing)} band file in the Sentinel-2 product "
            "(looked for GRANULE/*/IMG_DATA/R10m/*_B0N_10m.jp2 and GRANULE/*/IMG_DATA/*_B0N.jp2)"
        )
    scale, offsets = _scaling(metadata)
    prefix = f"/vsizip/{path.resolve()}/" if path.is_file() else f"{path.resolve()}/"
    return _stack([prefix + bands[b] for b in S2_RGB], scale, [offsets.get(S2_BAND_IDS[b], 0.0) for b in S2_RGB])


def _members(path: Path) -> tuple[list[str], bytes | None]:
    """The product's file names (relative, with "/") and its MTD_MSIL*.xml text (None if absent)."""
    if path.is_dir():
        names = [p.relative_to(path).as_posix() for p in path.rglob("*.jp2")]
        mtd = sorted(path.glob("MTD_MSIL*.xml"))
        return names, mtd[0].read_bytes()[:MAX_METADATA_BYTES] if mtd else None
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            found = [n for n in names if re.search(r"\.SAFE/MTD_MSIL\w+\.xml$", n, re.IGNORECASE)]
            text = z.read(found[0])[:MAX_METADATA_BYTES] if found else None
    except (zipfile.BadZipFile, OSError, KeyError) as exc:
        raise LandguiError(f"cannot read {path.name}: {exc}") from None
    return names, text


def _scaling(metadata: bytes | None) -> tuple[float, dict[str, float]]:
    """(1 / quantification value, {band_id: add offset / quantification value}) from the metadata."""
    quant, offsets = S2_QUANTIFICATION, {}
    if metadata:
        try:
            root = ET.fromstring(metadata)
        except ET.ParseError as exc:
            raise LandguiError(f"the product's metadata (MTD_MSIL*.xml) is not readable XML: {exc}") from None
        for el in root.iter():
            tag = str(el.tag).rsplit("}", 1)[-1]
            try:
                if tag in ("BOA_QUANTIFICATION_VALUE", "QUANTIFICATION_VALUE") and el.text:
                    quant = float(el.text)
                elif tag in ("BOA_ADD_OFFSET", "RADIO_ADD_OFFSET") and el.text:
                    offsets[el.get("band_id", "")] = float(el.text)
            except ValueError:
                raise LandguiError(f"the product's metadata has a {tag} that is not a number: {el.text!r}") from None
    if not (math.isfinite(quant) and quant > 0):
        raise LandguiError(f"the product's metadata has a quantification value of {quant}: not a positive number")
    return 1.0 / quant, {k: v / quant for k, v in offsets.items()}


def _stack(files: list[str], scale: float, offsets: list[float]) -> str:
    """A VRT of the single-band files as bands 1..n, on the first file's grid and CRS."""
    import rasterio

    try:
        with rasterio.open(files[0]) as ref:
            w, h, crs, t, dtype = ref.width, ref.height, ref.crs, ref.transform, ref.dtypes[0]
    except Exception as exc:  # noqa: BLE001 - rasterio raises several kinds
        raise LandguiError(f"cannot read {Path(files[0]).name}: {str(exc)[:200]}") from None
    gdal_type = {"uint8": "Byte", "uint16": "UInt16", "int16": "Int16", "float32": "Float32"}.get(dtype, "UInt16")
    srs = f"<SRS>{escape(crs.to_wkt())}</SRS>" if crs is not None else ""
    xml = [f'<VRTDataset rasterXSize="{w}" rasterYSize="{h}">{srs}']
    xml.append(f"<GeoTransform>{t.c!r}, {t.a!r}, {t.b!r}, {t.f!r}, {t.d!r}, {t.e!r}</GeoTransform>")
    for i, (f, off, name) in enumerate(zip(files, offsets, S2_RGB, strict=False), 1):
        xml.append(
            f'<VRTRasterBand dataType="{gdal_type}" band="{i}"><Description>{name}</Description>'
            f"<NoDataValue>0</NoDataValue><Offset>{off!r}</Offset><Scale>{scale!r}</Scale>"
            f'<SimpleSource><SourceFilename relativeToVRT="0">{escape(f)}</SourceFilename>'
            "<SourceBand>1</SourceBand></SimpleSource></VRTRasterBand>"
        )
    xml.append("</VRTDataset>")
    return "".join(xml)
