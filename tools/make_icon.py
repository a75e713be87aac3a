"""Draw the app icon (a 4x4 land-cover grid in the class palette over a rounded tile).

python tools/make_icon.py   # writes resources/landgui.png and landgui/resources/icon.png
"""

from pathlib import Path

import cv2
import numpy as np

from landgui.core.runs.palette import rgb

ROOT = Path(__file__).resolve().parents[1]


def icon(size: int = 256) -> np.ndarray:
    img = np.zeros((size, size, 4), np.uint8)
    r = size // 8
    cv2.rectangle(img, (r, 0), (size - r, size), (40, 40, 40, 255), -1)
    cv2.rectangle(img, (0, r), (size, size - r), (40, 40, 40, 255), -1)
    for cx, cy in ((r, r), (size - r, r), (r, size - r), (size - r, size - r)):
        cv2.circle(img, (cx, cy), r, (40, 40, 40, 255), -1)
    layout = [[2, 2, 1, 1], [2, 0, 0, 1], [0, 0, 4, 1], [0, 4, 4, 3]]
    cell = (size - 2 * r) // 4
    for i, row in enumerate(layout):
        for j, k in enumerate(row):
            x, y = r + j * cell, r + i * cell
            cv2.rectangle(img, (x + 3, y + 3), (x + cell - 3, y + cell - 3), (*rgb(k), 255), -1)
    return img


def main() -> None:
    img = icon()
    bgra = img[:, :, [2, 1, 0, 3]]
    for p in (ROOT / "resources" / "landgui.png", ROOT / "landgui" / "resources" / "icon.png"):
        p.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(p), bgra)
        print(p)


if __name__ == "__main__":
    main()
