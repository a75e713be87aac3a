"""Small synthetic image datasets made in the tests (never presented as real data)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

# Mean colour per class (RGB), so that a tiny model can learn them in an epoch or two.
CLASS_COLOURS = {
    "cloudy": (225, 225, 230),
    "desert": (200, 160, 100),
    "green_area": (40, 110, 50),
    "water": (30, 60, 120),
}


def textured_image(rng: np.random.Generator, colour, size: int = 32) -> np.ndarray:
    """An RGB uint8 image: class colour plus smooth random texture (plenty of detail)."""
    coarse = rng.normal(0, 1, (6, 6)).astype(np.float32)
    tex = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    fine = rng.normal(0, 0.2, (size, size)).astype(np.float32)
    img = np.array(colour, np.float32)[None, None, :] + 30 * (tex + fine)[:, :, None]
    return np.clip(img, 0, 255).astype(np.uint8)


def write_image(path: Path, rgb: np.ndarray, quality: int = 95) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ext = path.suffix.lower()
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(rgb[:, :, ::-1]), params)
    assert ok
    path.write_bytes(buf.tobytes())


def make_dataset(
    root: Path,
    per_class: int = 12,
    classes=("cloudy", "desert", "green_area", "water"),
    size: int = 32,
    seed: int = 0,
    ext: str = ".png",
) -> Path:
    rng = np.random.default_rng(seed)
    for c in classes:
        for i in range(per_class):
            write_image(root / c / f"{c}_{i:03d}{ext}", textured_image(rng, CLASS_COLOURS[c], size))
    return root


def tree_snapshot(root: Path) -> dict[str, tuple[int, float, bytes]]:
    """Every path under root with size, mtime and content: to prove nothing was touched."""
    snap = {}
    for p in sorted(root.rglob("*")):
        if p.is_symlink():
            snap[str(p)] = (0, 0.0, str(p.readlink()).encode())
        elif p.is_file():
            st = p.stat()
            try:
                data = p.read_bytes()
            except PermissionError:
                data = b"<unreadable>"
            snap[str(p)] = (st.st_size, st.st_mtime, data)
        else:
            snap[str(p)] = (-1, p.stat().st_mtime, b"")
    return snap


def write_geotiff(path: Path, img: np.ndarray, dtype: str = "uint8", nodata=None):
    """A GeoTIFF of an (H, W, bands) array in EPSG:32633 with 10 m pixels; returns its transform."""
    import rasterio
    from rasterio.transform import Affine

    transform = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4000000.0)
    data = np.moveaxis(img, -1, 0).astype(dtype)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=img.shape[1],
        height=img.shape[0],
        count=data.shape[0],
        dtype=dtype,
        crs="EPSG:32633",
        transform=transform,
        nodata=nodata,
    ) as dst:
        dst.write(data)
    return transform
