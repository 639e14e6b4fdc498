"""Steps of the ``zoo`` test template (standard library only)."""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

from workbench import (
    HTML,
    Artifact,
    ClassificationMetrics,
    Dataset,
    Input,
    Markdown,
    Metrics,
    Output,
    component,
    report,
)


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-color PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _write(path: str, data: bytes | str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    Path(path).write_bytes(data)


@component
def make(
    table: Output[Dataset],
    image: Output[Artifact],
    notes: Output[Markdown],
    page: Output[HTML],
    bundle: Output[Artifact],
    scale: float = 1.0,
    rows: int = 6,
) -> None:
    """Write a table, an image, Markdown, HTML (with a script that must not run) and a folder."""
    lines = ["id,x,y,label"] + [f"{i},{i * scale:.3f},{(i * scale) ** 2:.3f},{'ab'[i % 2]}" for i in range(rows)]
    _write(table.path, "\n".join(lines) + "\n")
    shade = max(0, min(255, int(100 * scale)))
    _write(image.path, png(24, 16, (shade, 80, 200)))
    _write(
        notes.path,
        f"# Notes\n\nscale is **{scale}**.\n\n<script>alert('md')</script>\n\n"
        "![tracker](http://198.51.100.7/notes.png) [a link](http://198.51.100.7/) <http://198.51.100.7/auto>\n",
    )
    _write(
        page.path,
        "<html><body><h1 id='hello'>Hello from HTML</h1>"
        "<script>window.top.document.title = 'PWNED'; document.title = 'PWNED';</script>"
        "<img src='x' onerror=\"window.top.document.title='PWNED'\"></body></html>",
    )
    folder = Path(bundle.path)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(f"scale: {scale}\nrows: {rows}\nmode: test\n", encoding="utf-8")
    (folder / "readme.txt").write_text(f"bundle for scale {scale}\n", encoding="utf-8")
    (folder / "swatch.png").write_bytes(png(8, 8, (shade, 10, 10)))
    os.symlink("/etc/hostname", folder / "escape")  # points outside the artifact store: must be refused


@component
def score(
    table: Input[Dataset], metrics: Output[Metrics], confusion: Output[ClassificationMetrics], scale: float = 1.0
) -> float:
    """Report loss and size, and write metrics and a confusion matrix."""
    n = sum(1 for _ in open(table.path, encoding="utf-8")) - 1
    loss = (scale - 1.5) ** 2
    size = n * scale
    _write(metrics.path, json.dumps({"loss": loss, "size": size, "rows": n}))
    k = int(round(3 * scale))
    _write(confusion.path, json.dumps({"labels": ["a", "b"], "matrix": [[10 - k, k], [2, 8 + k]]}))
    for step in range(1, 4):
        report(loss=loss + 1.0 / step, step=step)
    report(loss=loss, size=size)
    return loss
