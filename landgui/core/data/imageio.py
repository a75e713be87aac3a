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

#: Decompression-bomb limit for a labelled patch: images whose header claims more pixels than
#: this are refused before any decoding (50 megapixels, about 150 MB of RGB).
MAX_PATCH_PIXELS = 50_000_000

# We enforce our own limit; Pillow's warning/error thresholds would fire on large scenes.
Image.MAX_IMAGE_PIXELS = None

STRETCH_PERCENTILES = (2.0, 98.0)


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
    """Map ``lo`` to 0 and ``hi`` to 255 linearly, clip, and round to uint8 (NaN counts as ``lo``)."""
    a = np.nan_to_num(arr.astype(np.float32), nan=lo)
    return np.clip((a - lo) * (255.0 / (hi - lo)), 0, 255).round().astype(np.uint8)


def stretch_to_uint8(arr: np.ndarray, percentiles: tuple[float, float] = STRETCH_PERCENTILES) -> np.ndarray:
    """Scale a high-bit-depth array to uint8 with a percentile stretch over all bands."""
    return apply_stretch(arr, *stretch_limits(arr.astype(np.float32), percentiles))


def _to_rgb(arr: np.ndarray) -> np.ndarray:
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


def read_image(path: str | Path, max_pixels: int = MAX_PATCH_PIXELS) -> np.ndarray:
    """Read an image file to an RGB uint8 array. Raises :class:`ImageReadError`."""
    try:
        data = Path(path).read_bytes()
    except PermissionError:
        raise ImageReadError("unreadable: permission denied") from None
    except OSError as exc:
        raise ImageReadError(f"unreadable: {exc.strerror or exc}") from None
    return decode_image(data, max_pixels)


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
