"""Reading image files into RGB uint8 arrays, safely.

* Pillow does the reading: it checks the header size before decoding (our decompression-bomb
  guard) and reports truncated files (OpenCV silently fills them with grey).
* Modes: 1/L/P/LA/RGBA/CMYK/YCbCr are converted to RGB (alpha dropped, single band replicated);
  CMYK JPEGs (the Kaggle "cloudy" class) become RGB.
* 16-bit and float images (TIFF ``I;16``, ``I``, ``F``, 16-bit multi-band via OpenCV) are scaled to
  8 bit with a per-image percentile stretch: values at the 2nd percentile map to 0 and at the
  98th to 255 (:func:`stretch_to_uint8`). The same stretch is used for 16-bit scenes.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from landgui.core.base.errors import LandguiError
from landgui.core.base.files import FileProblem, read_capped

#: Decompression-bomb limit for a labelled patch: images whose header claims more pixels than
#: this are refused before any decoding (50 megapixels, about 150 MB of RGB).
MAX_PATCH_PIXELS = 50_000_000
#: Largest image file read whole as a patch: 50 megapixels of 16-bit RGBA fit (400 MB), a
#: FIFO, a device (``/dev/zero``) or a 20 GB file is refused before it is read.
MAX_PATCH_BYTES = 512 * 1024**2

# We enforce our own limit; Pillow's warning/error thresholds would fire on large scenes.
Image.MAX_IMAGE_PIXELS = None

STRETCH_PERCENTILES = (2.0, 98.0)
MIN_PATCH_SIDE = 8  # px: a 1 x 1 image stands for no ground at all
MAX_PATCH_ASPECT = 8.0  # longer side / shorter side of a patch (a 100,000 x 1 px strip is none)


class ImageReadError(LandguiError):
    """An image could not be used; ``reason`` is a short human-readable cause."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def stretch_limits(values: np.ndarray, percentiles: tuple[float, float] = STRETCH_PERCENTILES) -> tuple[float, float]:
    """(lo, hi) of the percentile stretch over the finite values; a constant image maps to 255."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(finite, percentiles))
    if hi <= lo:  # constant: keep it bright rather than black
        lo, hi = min(0.0, lo), max(lo, 1.0)
    return lo, hi


def apply_stretch(arr: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map ``lo`` to 0 and ``hi`` to 255 linearly, clip, and round to uint8 (NaN and +/-inf, which
    are no data, count as ``lo``)."""
    a = np.nan_to_num(arr.astype(np.float32), nan=lo, posinf=lo, neginf=lo)
    return np.clip((a - lo) * (255.0 / (hi - lo)), 0, 255).round().astype(np.uint8)


def stretch_to_uint8(arr: np.ndarray, percentiles: tuple[float, float] = STRETCH_PERCENTILES) -> np.ndarray:
    """Scale a high-bit-depth array to uint8 with a percentile stretch over all bands."""
    return apply_stretch(arr, *stretch_limits(arr.astype(np.float32), percentiles))


def _to_rgb(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind == "f" and not np.isfinite(arr).any():
        raise ImageReadError("no data: every pixel is NaN or infinite")
    if arr.dtype != np.uint8:
        arr = stretch_to_uint8(arr)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.shape[2] == 2:  # grey + alpha
        arr = np.repeat(arr[:, :, :1], 3, axis=2)
    elif arr.shape[2] >= 4:
        arr = arr[:, :, :3]
    return np.ascontiguousarray(arr)


def decode_image(data: bytes, max_pixels: int = MAX_PATCH_PIXELS) -> np.ndarray:
    """Decode encoded image bytes to an HxWx3 uint8 RGB array or raise :class:`ImageReadError`."""
    if not data:
        raise ImageReadError("zero bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > max_pixels:
                raise ImageReadError(
                    f"too large: {w}x{h} = {w * h:,} pixels > limit {max_pixels:,} (decompression-bomb guard)"
                )
            img.load()
    except ImageReadError:
        raise
    except UnidentifiedImageError:
        raise ImageReadError("not an image (unrecognised format)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        msg = str(exc)
        if "truncated" in msg or "broken data stream" in msg or "end of file" in msg.lower():
            raise ImageReadError(f"corrupt or truncated: {msg}") from None
        # Pillow cannot decode some valid files (e.g. 16-bit multi-band TIFF): try OpenCV.
        arr = _decode_cv2(data)
        if arr is None:
            raise ImageReadError(f"corrupt or unsupported: {msg}") from None
        return _to_rgb(arr)
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return _to_rgb(np.asarray(img))
    rgb = img if img.mode == "RGB" else img.convert("RGB")
    return np.asarray(rgb, dtype=np.uint8).copy()


def _decode_cv2(data: bytes) -> np.ndarray | None:
    import cv2

    buf = np.frombuffer(data, np.uint8)
    arr = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if arr is None:
        return None
    if arr.ndim == 3 and arr.shape[2] >= 3:
        arr = arr[:, :, [2, 1, 0]]  # BGR(A) -> RGB
    return arr


def check_patch_shape(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` if it can stand for a patch of ground (a training image, an image to predict): at
    least :data:`MIN_PATCH_SIDE` px on its shorter side and at most :data:`MAX_PATCH_ASPECT`
    times as long as wide; else :class:`ImageReadError`. A scene may be any shape: it is cut."""
    h, w = rgb.shape[:2]
    if min(h, w) < MIN_PATCH_SIDE:
        raise ImageReadError(f"too small: {w} x {h} px (a patch needs at least {MIN_PATCH_SIDE} px a side)")
    if max(h, w) > MAX_PATCH_ASPECT * min(h, w):
        raise ImageReadError(f"too elongated: {w} x {h} px (a patch is at most {MAX_PATCH_ASPECT:g}:1)")
    return rgb


def decode_patch(data: bytes, max_pixels: int = MAX_PATCH_PIXELS) -> np.ndarray:
    """:func:`decode_image` of a patch, its shape checked (:func:`check_patch_shape`)."""
    return check_patch_shape(decode_image(data, max_pixels))


def array_to_rgb(arr: np.ndarray) -> np.ndarray:
    """An image given as an array (the Python API's input) as RGB uint8, by the rules files follow.

    * shape: (H, W) grey, (H, W, 1), (H, W, 2) grey + alpha, (H, W, 3) RGB or (H, W, 4) RGBA
      (alpha dropped), as grey and RGBA files are read;
    * uint8: as it is; other integers within 0..255 (``np.array([[1, 2]])`` is int64): as they
      are; other integers (uint16, ...): the percentile stretch of 16-bit files
      (:func:`stretch_to_uint8`);
    * floats: values within 0..1 are multiplied by 255, values within 0..255 taken as they are;
      NaN and +/-inf are no data (a pixel of no data counts as the darkest), an image with no
      finite pixel, or with values outside 0..255, is refused;
    * the shape of a patch (:func:`check_patch_shape`).

    Raises :class:`ImageReadError` with the reason (no path)."""
    a = np.asarray(arr)
    if a.dtype == object or a.dtype.kind not in "uif":
        raise ImageReadError(f"not an image: an array of {a.dtype} (give numbers: uint8 0..255 or floats 0..1)")
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 2, 3, 4)):
        raise ImageReadError(f"not an image: shape {a.shape} (give H x W grey, H x W x 3 RGB or H x W x 4 RGBA)")
    if a.size == 0:
        raise ImageReadError(f"empty: {a.shape[1] if a.ndim > 1 else 0} x {a.shape[0]} px")
    if a.dtype.kind == "f":
        finite = np.isfinite(a)
        if not finite.any():
            raise ImageReadError("no data: every pixel is NaN or infinite")
        lo, hi = float(a[finite].min()), float(a[finite].max())
        if lo < 0 or hi > 255:
            raise ImageReadError(f"float values from {lo:g} to {hi:g}: give 0..1 or 0..255")
        scale = 255.0 if hi <= 1.0 else 1.0
        a = np.where(finite, a, 0.0) * scale
        a = np.clip(a, 0, 255).round().astype(np.uint8)
    elif a.dtype != np.uint8:
        a = a.astype(np.uint8) if a.min() >= 0 and a.max() <= 255 else stretch_to_uint8(a)
    return check_patch_shape(_to_rgb(a))


def read_image(path: str | Path, max_pixels: int = MAX_PATCH_PIXELS, max_bytes: int = MAX_PATCH_BYTES) -> np.ndarray:
    """Read an image file of a patch to an RGB uint8 array (:func:`decode_patch`). Raises
    :class:`ImageReadError`, also for a file that is not a regular file (a FIFO, a device, a
    folder) or is over ``max_bytes`` (:func:`landgui.core.base.files.read_capped`)."""
    try:
        data = read_capped(path, max_bytes)
    except FileProblem as exc:
        raise ImageReadError(exc.reason) from None
    return decode_patch(data, max_pixels)


#: Side of the grey thumbnail used as perceptual signature.
SIGNATURE_SIDE = 16


def chromaticity(rgb: np.ndarray) -> np.ndarray:
    """Mean colour with brightness divided out, (r, g, b) / (r + g + b): unchanged by brightening."""
    mean = rgb.reshape(-1, 3).mean(axis=0).astype(np.float32) + 1.0
    return mean / mean.sum()


def perceptual_signature(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    """Brightness/contrast-invariant signature of an image and its amount of detail.

    The image is turned grey and shrunk to 16x16 (area averaging, so resizing does not matter),
    the mean is subtracted and the vector scaled to unit length: the dot product of two signatures
    is their correlation, unchanged by re-encoding, resizing and brightness/contrast changes.
    ``detail`` is the thumbnail's standard deviation in grey levels; below
    :data:`landgui.core.data.duplicates.MIN_DETAIL` the signature is mostly noise.
    """
    import cv2

    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    t = cv2.resize(grey, (SIGNATURE_SIDE, SIGNATURE_SIDE), interpolation=cv2.INTER_AREA).ravel()
    detail = float(t.std())
    t = t - t.mean()
    norm = float(np.linalg.norm(t))
    return (t / norm if norm > 1e-6 else t).astype(np.float32), detail
