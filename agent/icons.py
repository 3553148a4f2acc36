"""Tray icons drawn with QPainter: one calm base, small discreet markers for each status."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap

from agent.feedback import Status, View

_BASE = QColor("#3f6e8c")  # calm blue: the same on every state, so nothing stands out
_OFFLINE = QColor("#8a8a8a")
_MARKERS: dict[Status, QColor | None] = {
    Status.IDLE: None,
    Status.SENT: QColor("#d9d9d9"),
    Status.STORED: QColor("#4caf50"),
    Status.DELIVERED: QColor("#4caf50"),
    Status.COMING: QColor("#4caf50"),
    Status.ACKNOWLEDGED: QColor("#4caf50"),
    Status.ARRIVED: QColor("#4caf50"),
    Status.NOBODY_REACHED: QColor("#f0a020"),  # as "not delivered": use the phone
    Status.RESOLVED: None,
    Status.NOT_DELIVERED: QColor("#f0a020"),
}


def _shield(size: int) -> QPainterPath:
    s = float(size)
    path = QPainterPath()
    path.moveTo(s * 0.5, s * 0.06)
    path.lineTo(s * 0.88, s * 0.2)
    path.cubicTo(s * 0.88, s * 0.6, s * 0.7, s * 0.82, s * 0.5, s * 0.95)
    path.cubicTo(s * 0.3, s * 0.82, s * 0.12, s * 0.6, s * 0.12, s * 0.2)
    path.closeSubpath()
    return path


def draw_icon(view: View, size: int = 64, withdrawable: bool = False) -> QPixmap:
    """The tray picture for a feedback view; ``withdrawable`` while the cancel window is open
    (a white ring around the marker: the raiser may still take the alarm back)."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QBrush(_BASE if view.connected else _OFFLINE))
    painter.drawPath(_shield(size))
    if not view.protected:
        # A diagonal stroke: "not protected" (for any reason), visible on a close look.
        painter.setPen(
            QPen(QColor("#c62828"), size * 0.1, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap)
        )
        painter.drawLine(QPointF(size * 0.18, size * 0.82), QPointF(size * 0.82, size * 0.18))
    marker = _MARKERS[view.status]
    if marker is not None:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(marker))
        r = size * 0.16
        painter.drawEllipse(QRectF(size * 0.5 - r, size * 0.42 - r, 2 * r, 2 * r))
    if withdrawable:
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(QColor("#ffffff"), max(1.0, size * 0.05)))
        r = size * 0.25
        painter.drawEllipse(QRectF(size * 0.5 - r, size * 0.42 - r, 2 * r, 2 * r))
    painter.end()
    return pixmap


def tray_icon(view: View, withdrawable: bool = False) -> QIcon:
    icon = QIcon()
    for size in (16, 22, 24, 32, 48, 64):
        icon.addPixmap(draw_icon(view, size, withdrawable))
    return icon
