"""Draws the console's app icons (the manifest's and the notifications' PNGs) with Qt.

Run once after changing the drawing, from the repository with the test venv
(PySide6 is in the agent's extra), and commit the PNGs:

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/make_webapp_icons.py

The mark is the console's brand mark (console.css .brand-mark: a red disc with
a pale red halo) with a white exclamation mark.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter

OUT = Path(__file__).resolve().parents[1] / "dispatch/web/console/static/icons"
RED = QColor("#b91c1c")
HALO = QColor(185, 28, 28, 64)


def _exclamation(painter: QPainter, size: float, colour: QColor) -> None:
    painter.setBrush(colour)
    painter.setPen(Qt.PenStyle.NoPen)
    centre = size / 2
    width = size * 0.09
    painter.drawRoundedRect(
        QRectF(centre - width / 2, size * 0.3, width, size * 0.26), width / 2, width / 2
    )
    painter.drawEllipse(QPointF(centre, size * 0.66), width * 0.62, width * 0.62)


def icon(size: int, *, maskable: bool) -> QImage:
    """White ground, halo and disc; maskable keeps the mark inside the central 80 %."""
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(QColor("#ffffff"))
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    scale = 0.8 if maskable else 1.0
    centre = QPointF(size / 2, size / 2)
    painter.setBrush(HALO)
    painter.drawEllipse(centre, size * 0.45 * scale, size * 0.45 * scale)
    painter.setBrush(RED)
    painter.drawEllipse(centre, size * 0.36 * scale, size * 0.36 * scale)
    _exclamation(painter, size, QColor("#ffffff"))
    painter.end()
    return image


def badge(size: int) -> QImage:
    """Android shows a notification's badge by its alpha only: a white disc, the mark cut out."""
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor("#ffffff"))
    painter.drawEllipse(QPointF(size / 2, size / 2), size * 0.46, size * 0.46)
    painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Clear)
    _exclamation(painter, size, QColor(0, 0, 0, 0))
    painter.end()
    return image


def main() -> int:
    QGuiApplication(sys.argv)
    OUT.mkdir(parents=True, exist_ok=True)
    made = {
        "icon-192.png": icon(192, maskable=False),
        "icon-512.png": icon(512, maskable=False),
        "icon-maskable-512.png": icon(512, maskable=True),
        "badge-96.png": badge(96),
    }
    for name, image in made.items():
        if not image.save(str(OUT / name), "PNG"):
            print(f"cannot write {OUT / name}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
