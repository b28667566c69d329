"""PNG charts without matplotlib (roadmap 100): valid PNG files that contain what was drawn."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from quantops_trading.observability.charts import PALETTE, bar_chart, decode_png, encode_png, line_chart


def test_encode_png_is_a_valid_png_that_round_trips() -> None:
    img = np.zeros((3, 4, 3), np.uint8)
    img[1, 2] = (10, 20, 30)
    png = encode_png(img)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert png[12:16] == b"IHDR" and struct.unpack(">II", png[16:24]) == (4, 3)
    assert struct.unpack(">I", png[29:33])[0] == zlib.crc32(png[12:29])
    assert png.endswith(b"IEND\xaeB`\x82")
    assert (decode_png(png) == img).all()
    with pytest.raises(ValueError, match="expected an"):
        encode_png(np.zeros((3, 4), np.uint8))


def test_line_chart_draws_each_series_in_its_colour() -> None:
    img = decode_png(line_chart({"a": [0, 1, 2, 3], "b": [3, 2, 1, 0]}, width=200, height=100))
    assert img.shape == (100, 200, 3)
    for colour in PALETTE[:2]:
        mask = (img == colour).all(axis=2)
        assert mask.sum() > 150, f"series in {colour} is drawn"
    rising = (img == PALETTE[0]).all(axis=2)
    ys, xs = np.nonzero(rising)
    assert ys[xs.argmin()] > ys[xs.argmax()], "the rising series goes up (smaller y) to the right"


def test_bar_chart_colours_sign() -> None:
    img = decode_png(bar_chart([5.0, -5.0], width=100, height=100))
    left, right = img[:, :50], img[:, 50:]
    green, red = (44, 160, 44), (214, 39, 40)
    assert (left == green).all(axis=2).sum() > 100 and not (left == red).all(axis=2).any()
    assert (right == red).all(axis=2).sum() > 100 and not (right == green).all(axis=2).any()
