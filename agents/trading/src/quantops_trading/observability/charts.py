"""Minimal PNG line and bar charts with numpy + zlib (no matplotlib on the machines).

Why it exists (roadmap 100): the end-of-day postmortem embeds charts of PnL, drawdown and decisions
in HTML and Markdown, and must render on a bare agent image. A chart is an RGB numpy array we draw
into (axes, grid, polylines, bars) and :func:`encode_png` writes as an 8-bit truecolour PNG
(signature, IHDR, one zlib IDAT with filter 0 per row, IEND). Text (titles, axis values) stays in
the surrounding HTML/Markdown, where it is searchable; :func:`decode_png` reads our own output back
for tests.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["PALETTE", "bar_chart", "decode_png", "encode_png", "line_chart"]

Image = npt.NDArray[np.uint8]
PALETTE: tuple[tuple[int, int, int], ...] = (
    (31, 119, 180),
    (214, 39, 40),
    (44, 160, 44),
    (255, 127, 14),
    (148, 103, 189),
    (140, 86, 75),
)
_AXIS, _GRID, _BG = (60, 60, 60), (225, 225, 225), (255, 255, 255)
_POS, _NEG = (44, 160, 44), (214, 39, 40)
_MARGIN = 12


def encode_png(img: Image) -> bytes:
    """``img`` is (height, width, 3) uint8 → PNG bytes."""
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an (h, w, 3) image, got shape {img.shape}")
    h, w, _ = img.shape
    rows = np.concatenate([np.zeros((h, 1), np.uint8), img.reshape(h, w * 3)], axis=1)

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
        + chunk(b"IEND", b"")
    )


def decode_png(data: bytes) -> Image:
    """Read back a PNG written by :func:`encode_png` (truecolour, 8 bit, filter 0 rows only)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, w, h = 8, b"", 0, 0
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        tag, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n : pos + 12 + n])
        if zlib.crc32(tag + body) != crc:
            raise ValueError(f"bad CRC in {tag!r}")
        if tag == b"IHDR":
            w, h = struct.unpack(">II", body[:8])
        elif tag == b"IDAT":
            idat += body
        pos += 12 + n
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, w * 3 + 1)
    if raw[:, 0].any():
        raise ValueError("only filter type 0 is supported")
    return raw[:, 1:].reshape(h, w, 3).copy()


def _canvas(width: int, height: int) -> Image:
    img = np.empty((height, width, 3), np.uint8)
    img[:] = _BG
    return img


def _line(
    img: Image, x0: float, y0: float, x1: float, y1: float, colour: Sequence[int], thick: int = 1
) -> None:
    n = int(max(abs(x1 - x0), abs(y1 - y0))) + 2
    xs = np.rint(np.linspace(x0, x1, n)).astype(int)
    ys = np.rint(np.linspace(y0, y1, n)).astype(int)
    h, w, _ = img.shape
    for d in range(thick):
        ok = (xs >= 0) & (xs < w) & (ys + d >= 0) & (ys + d < h)
        img[ys[ok] + d, xs[ok]] = colour


def _frame(img: Image, lo: float, hi: float) -> tuple[float, float, float, float]:
    """Draw grid + axes; return the plot box (left, top, right, bottom) in pixels."""
    h, w, _ = img.shape
    left, top, right, bottom = _MARGIN, _MARGIN, w - _MARGIN, h - _MARGIN
    for i in range(1, 4):
        y = top + (bottom - top) * i / 4
        _line(img, left, y, right, y, _GRID)
    _line(img, left, top, left, bottom, _AXIS)
    _line(img, left, bottom, right, bottom, _AXIS)
    if lo < 0 < hi:  # the zero line
        _line(img, left, _y(0.0, lo, hi, top, bottom), right, _y(0.0, lo, hi, top, bottom), _AXIS)
    return left, top, right, bottom


def _y(v: float, lo: float, hi: float, top: float, bottom: float) -> float:
    return bottom - (v - lo) / (hi - lo) * (bottom - top)


def _range(values: Sequence[float]) -> tuple[float, float]:
    lo, hi = min(min(values), 0.0), max(max(values), 0.0)
    if hi - lo < 1e-12:
        hi = lo + 1.0
    pad = (hi - lo) * 0.05
    return lo - pad, hi + pad


def line_chart(series: Mapping[str, Sequence[float]], width: int = 640, height: int = 240) -> bytes:
    """One polyline per series (colours from :data:`PALETTE`, in insertion order), shared y range."""
    img = _canvas(width, height)
    values = [v for s in series.values() for v in s] or [0.0]
    lo, hi = _range(values)
    left, top, right, bottom = _frame(img, lo, hi)
    for k, ys in enumerate(series.values()):
        colour = PALETTE[k % len(PALETTE)]
        if len(ys) == 1:
            ys = [ys[0], ys[0]]
        xs = np.linspace(left, right, len(ys)) if ys else np.array([])
        for i in range(1, len(ys)):
            y0, y1 = _y(ys[i - 1], lo, hi, top, bottom), _y(ys[i], lo, hi, top, bottom)
            _line(img, float(xs[i - 1]), y0, float(xs[i]), y1, colour, thick=2)
    return encode_png(img)


def bar_chart(values: Sequence[float], width: int = 640, height: int = 240) -> bytes:
    """Bars from the zero line: green for ≥ 0, red for < 0."""
    img = _canvas(width, height)
    lo, hi = _range(list(values) or [0.0])
    left, top, right, bottom = _frame(img, lo, hi)
    n = max(len(values), 1)
    slot = (right - left) / n
    zero = _y(0.0, lo, hi, top, bottom)
    for i, v in enumerate(values):
        x0 = int(left + i * slot + slot * 0.15) + 1
        x1 = max(int(left + (i + 1) * slot - slot * 0.15), x0 + 1)
        y = _y(v, lo, hi, top, bottom)
        y0, y1 = int(min(y, zero)), int(max(y, zero))
        img[y0 : max(y1, y0 + 1), x0:x1] = _POS if v >= 0 else _NEG
    return encode_png(img)
