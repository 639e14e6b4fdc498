"""Artifact files for the dashboard: safe access, previews and comparisons.

:func:`resolve_artifact` is the only way the dashboard turns an artifact URI into a file: it
refuses anything outside the workspace's artifact store (``..``, absolute paths elsewhere,
symlinks whose target is outside). :func:`preview` reads a bounded amount of a file and says
what it is (table, image, JSON, metrics, confusion matrix, Markdown, HTML, YAML, text,
NumPy arrays, a folder, or binary); nothing is ever unpickled or executed.
:func:`html_sandbox` wraps HTML so that it cannot run script in the page; :func:`markdown_html` renders
Markdown a step wrote into HTML that makes the viewer's browser fetch nothing (no images, no links).
"""

from __future__ import annotations

import difflib
import html as html_lib
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pandas as pd

from workbench.errors import WorkbenchError

#: Files larger than this are not read for a preview (their size and kind are still shown).
MAX_PREVIEW_BYTES = 20 * 1024 * 1024
#: Rows of a table read for a preview.
MAX_TABLE_ROWS = 100_000
#: Characters of text shown.
MAX_TEXT_CHARS = 200_000

TABLE_EXT = {".csv": ",", ".tsv": "\t"}
IMAGE_EXT = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
TEXT_EXT = {".txt", ".log", ".py", ".cfg", ".ini", ".toml", ".sh", ".xml"}


class ArtifactAccessError(WorkbenchError):
    """A request for a file outside the artifact store (or one that does not exist)."""


def _as_path(uri: str) -> Path:
    if uri.startswith("file://"):
        return Path(unquote(urlparse(uri).path))
    if "://" in uri:
        raise ArtifactAccessError(f"{uri!r} is not a local file of the artifact store")
    return Path(uri)


def resolve_artifact(store: str | Path, uri: str | Path) -> Path:
    """The real path of an artifact file or folder, if and only if it lies inside the artifact store ``store``.

    ``uri`` is an absolute path or ``file://`` URI inside the store, or a path relative to it.
    Refused with :class:`ArtifactAccessError`: a ``..`` component, an absolute path elsewhere,
    anything whose real path (symlinks resolved) is outside the store, and files that do not exist.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp()); (root / "a.txt").write_text("x")
        1
        >>> resolve_artifact(root, "a.txt").name
        'a.txt'
        >>> resolve_artifact(root, "../etc/passwd")
        Traceback (most recent call last):
        ...
        workbench.readmodel._artifacts.ArtifactAccessError: '../etc/passwd': '..' is not allowed in an artifact path
    """
    text = str(uri)
    if "\x00" in text:
        raise ArtifactAccessError(f"{text!r}: not a valid path")
    path = _as_path(text)
    if ".." in path.parts:
        raise ArtifactAccessError(f"{text!r}: '..' is not allowed in an artifact path")
    root = Path(os.path.realpath(store))
    candidate = path if path.is_absolute() else root / path
    real = Path(os.path.realpath(candidate))
    if real != root and root not in real.parents:
        raise ArtifactAccessError(f"{text!r} is outside the artifact store {root}")
    if not real.exists():
        raise ArtifactAccessError(f"{text!r} does not exist")
    return real


def list_files(store: str | Path, folder: str | Path, limit: int = 500) -> list[dict[str, Any]]:
    """Files inside an artifact folder (recursively, at most ``limit``), each checked like :func:`resolve_artifact`.

    Entries whose real path leaves the store (symlinks out) are listed as ``refused``.
    """
    base = resolve_artifact(store, folder)
    if base.is_file():
        return [{"path": base.name, "size": base.stat().st_size, "refused": False}]
    out: list[dict[str, Any]] = []
    for dirpath, dirnames, filenames in os.walk(base):  # os.walk does not follow symlinked folders
        dirnames.sort()
        for name in sorted(filenames) + sorted(d for d in dirnames if os.path.islink(os.path.join(dirpath, d))):
            full = Path(dirpath) / name
            rel = full.relative_to(base).as_posix()
            try:
                real = resolve_artifact(store, full)
                out.append({"path": rel, "size": real.stat().st_size if real.is_file() else 0, "refused": False})
            except ArtifactAccessError:
                out.append({"path": rel, "size": 0, "refused": True})
            if len(out) >= limit:
                return out
    return out


@dataclass
class Preview:
    """What an artifact file is, and a bounded view of it.

    ``kind``: ``table``, ``image``, ``json``, ``metrics``, ``confusion``, ``markdown``, ``html``,
    ``yaml``, ``text``, ``arrays``, ``folder``, ``binary`` or ``missing``.
    """

    kind: str
    path: Path | None
    name: str
    size: int = 0
    data: Any = None
    mime: str = ""
    note: str = ""
    files: list[dict[str, Any]] = field(default_factory=list)


def _read_bytes(path: Path, limit: int = MAX_PREVIEW_BYTES) -> bytes:
    with open(path, "rb") as f:
        return f.read(limit)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and not (isinstance(v, float) and math.isnan(v))


def classify_json(value: Any, artifact_type: str = "") -> str:
    """``confusion`` for ``{labels, matrix}``, ``metrics`` for a flat mapping of numbers, else ``json``."""
    if isinstance(value, dict):
        if isinstance(value.get("matrix"), list) and all(isinstance(r, list) for r in value["matrix"]):
            return "confusion"
        numbers = [v for v in value.values() if _is_number(v)]
        if value and len(numbers) == len(value):
            return "metrics"
        if artifact_type == "Metrics" and numbers:
            return "metrics"
    return "json"


def _sniff_table(text: str) -> str | None:
    """The delimiter if ``text`` looks like a CSV/TSV table (the same number of fields on its first lines)."""
    lines = [line for line in text.splitlines()[:20] if line.strip()]
    if len(lines) < 2:
        return None
    for sep in (",", "\t", ";"):
        counts = {line.count(sep) for line in lines}
        if len(counts) == 1 and next(iter(counts)) >= 1:
            return sep
    return None


def preview(store: str | Path, uri: str | Path, artifact_type: str = "", member: str | None = None) -> Preview:
    """A preview of an artifact (``member`` picks a file inside a folder artifact).

    Raises :class:`ArtifactAccessError` for paths outside the store.
    """
    path = resolve_artifact(store, uri)
    if member:
        if path.is_file():
            raise ArtifactAccessError(f"{uri!r} is a file, not a folder")
        base = path
        path = resolve_artifact(store, base / member)
        if base not in path.parents:
            raise ArtifactAccessError(f"{member!r} is outside the artifact folder")
    name = path.name
    if path.is_dir():
        return Preview("folder", path, name, files=list_files(store, path))
    size = path.stat().st_size
    ext = path.suffix.lower()
    if size > MAX_PREVIEW_BYTES and ext not in (".parquet",):
        return Preview("binary", path, name, size, note=f"{size:,} bytes: too large to preview")
    if ext in IMAGE_EXT:
        return Preview("image", path, name, size, _read_bytes(path), mime=IMAGE_EXT[ext])
    if ext == ".parquet":
        frame = pd.read_parquet(path)
        note = f"{len(frame):,} rows" + (f" (first {MAX_TABLE_ROWS:,} shown)" if len(frame) > MAX_TABLE_ROWS else "")
        return Preview("table", path, name, size, frame.head(MAX_TABLE_ROWS), note=note)
    if ext in TABLE_EXT:
        return _table(path, name, size, TABLE_EXT[ext])
    raw = _read_bytes(path)
    if raw.startswith(b"PK\x03\x04") and (ext in ("", ".npz")):
        arrays = _npz(path)
        if arrays is not None:
            return Preview("arrays", path, name, size, arrays)
    if raw.startswith(b"\x93NUMPY"):
        arrays = _npy(path)
        if arrays is not None:
            return Preview("arrays", path, name, size, arrays)
    if raw.startswith(b"\x89PNG\r\n\x1a\n"):
        return Preview("image", path, name, size, raw, mime="image/png")
    if raw.startswith(b"\xff\xd8\xff"):
        return Preview("image", path, name, size, raw, mime="image/jpeg")
    if ext in (".pkl", ".pickle", ".joblib"):
        return Preview("binary", path, name, size, note="a pickle: never loaded by the dashboard")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Preview("binary", path, name, size, raw[:256], note=f"{size:,} bytes of binary data")
    if ext in (".html", ".htm", ".svg") or artifact_type == "HTML":
        return Preview("html", path, name, size, text)
    if ext in (".md", ".markdown") or artifact_type == "Markdown":
        return Preview("markdown", path, name, size, text)
    if ext in (".json", ".jsonl", "") or artifact_type in ("Metrics", "ClassificationMetrics"):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        else:
            return Preview(classify_json(value, artifact_type), path, name, size, value)
    if ext in (".yaml", ".yml"):
        import yaml

        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            value = None
        return Preview("yaml", path, name, size, text, note="" if value is not None else "not valid YAML")
    sep = _sniff_table(text) if ext not in TEXT_EXT else None
    if sep is not None:
        try:
            frame = pd.read_csv(io.StringIO(text), sep=sep, nrows=MAX_TABLE_ROWS)
            return Preview("table", path, name, size, frame)
        except (ValueError, pd.errors.ParserError):
            pass
    truncated = len(text) > MAX_TEXT_CHARS
    return Preview("text", path, name, size, text[:MAX_TEXT_CHARS], note="truncated" if truncated else "")


def _table(path: Path, name: str, size: int, sep: str) -> Preview:
    try:
        frame = pd.read_csv(path, sep=sep, nrows=MAX_TABLE_ROWS)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as err:
        return Preview(
            "text",
            path,
            name,
            size,
            _read_bytes(path, MAX_TEXT_CHARS).decode("utf-8", "replace"),
            note=f"not a readable table: {err}",
        )
    return Preview("table", path, name, size, frame)


def _npz(path: Path) -> dict[str, Any] | None:
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: _array_summary(npz[k]) for k in npz.files}
    except (ValueError, OSError, EOFError):
        return None


def _npy(path: Path) -> dict[str, Any] | None:
    import numpy as np

    try:
        return {path.stem: _array_summary(np.load(path, allow_pickle=False))}
    except (ValueError, OSError, EOFError):
        return None


def _array_summary(arr: Any) -> dict[str, Any]:
    import numpy as np

    out: dict[str, Any] = {"shape": list(arr.shape), "dtype": str(arr.dtype)}
    if arr.size and np.issubdtype(arr.dtype, np.number):
        out.update(min=float(np.nanmin(arr)), max=float(np.nanmax(arr)), mean=float(np.nanmean(arr)))
    flat = arr.reshape(-1)[:8]
    out["head"] = [x.item() if hasattr(x, "item") else str(x) for x in flat]
    return out


# ----------------------------------------------------------------------- HTML


def html_sandbox(markup: str, height: int = 400) -> str:
    """An ``<iframe>`` showing ``markup`` with scripts, forms, popups and same-origin access all disabled.

    The markup travels escaped in ``srcdoc``; the empty ``sandbox`` attribute gives the frame a
    unique origin and no right to run script (``allow-scripts`` is never granted).

    Example:
        >>> frame = html_sandbox("<script>alert(1)</script><b>hi</b>")
        >>> 'sandbox=""' in frame and "<script>" not in frame
        True
    """
    policy = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    doc = f'<meta http-equiv="Content-Security-Policy" content="{policy}">' + markup
    return (
        f'<iframe sandbox="" referrerpolicy="no-referrer" srcdoc="{html_lib.escape(doc, quote=True)}" '
        f'style="width:100%;height:{int(height)}px;border:1px solid #ddd;background:white"></iframe>'
    )


# ---------------------------------------------------------------- comparisons


def table_diff(left: pd.DataFrame, right: pd.DataFrame, key: str | None = None) -> dict[str, Any]:
    """How two tables differ: shapes, columns only on either side, per-column summary stats, changed cells.

    Rows are matched by ``key`` (a column in both) or by position. ``changed`` holds one row per
    differing cell (``row``, ``column``, ``left``, ``right``), at most 10,000.
    """
    only_left = [c for c in left.columns if c not in right.columns]
    only_right = [c for c in right.columns if c not in left.columns]
    common = [c for c in left.columns if c in right.columns]
    if key and key in common:
        lk, rk = left.set_index(key), right.set_index(key)
        lk, rk = lk[~lk.index.duplicated()], rk[~rk.index.duplicated()]
        rows_only_left = [x for x in lk.index if x not in rk.index]
        rows_only_right = [x for x in rk.index if x not in lk.index]
        index = [x for x in lk.index if x in rk.index]
        cols = [c for c in common if c != key]
        a, b = lk.loc[index, cols], rk.loc[index, cols]
    else:
        n = min(len(left), len(right))
        rows_only_left = list(range(n, len(left)))
        rows_only_right = list(range(n, len(right)))
        cols = common
        a, b = left[cols].iloc[:n].reset_index(drop=True), right[cols].iloc[:n].reset_index(drop=True)
    changed = []
    for c in cols:
        x, y = a[c], b[c]
        both_nan = x.isna() & y.isna()
        if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
            neq = ~((x == y) | both_nan)
        else:
            neq = ~((x.astype(str) == y.astype(str)) | both_nan)
        for idx in list(neq[neq].index[: max(0, 10_000 - len(changed))]):
            changed.append({"row": idx, "column": c, "left": x.loc[idx], "right": y.loc[idx]})
    stats = []
    for c in common:
        row: dict[str, Any] = {"column": c}
        for side, frame in (("left", left), ("right", right)):
            col = frame[c]
            if pd.api.types.is_numeric_dtype(col):
                row[f"{side} mean"] = float(col.mean()) if len(col) else float("nan")
                row[f"{side} std"] = float(col.std()) if len(col) > 1 else float("nan")
                row[f"{side} min"] = float(col.min()) if len(col) else float("nan")
                row[f"{side} max"] = float(col.max()) if len(col) else float("nan")
            else:
                row[f"{side} unique"] = int(col.nunique())
            row[f"{side} nulls"] = int(col.isna().sum())
        stats.append(row)
    return {
        "left_shape": left.shape,
        "right_shape": right.shape,
        "only_left_columns": only_left,
        "only_right_columns": only_right,
        "only_left_rows": rows_only_left,
        "only_right_rows": rows_only_right,
        "changed": pd.DataFrame(changed, columns=["row", "column", "left", "right"]),
        "stats": pd.DataFrame(stats),
    }


def text_diff(left: str, right: str, left_name: str = "left", right_name: str = "right") -> str:
    """A unified diff of two texts (empty when equal)."""
    return "".join(
        difflib.unified_diff(
            left.splitlines(keepends=True), right.splitlines(keepends=True), left_name, right_name, n=3
        )
    )


def json_text(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str) + "\n"


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}, "c": [2]}`` -> ``{"a.b": 1, "c[0]": 2}`` (for JSON comparisons)."""
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.update(flatten(v, f"{prefix}[{i}]"))
    else:
        out[prefix] = value
    return out


def markdown_html(text: str) -> str:
    """Markdown (a step's artifact) as HTML that fetches nothing and runs nothing in the viewer's browser.

    CommonMark with tables and strikethrough; raw HTML stays text; an image becomes its alt text and
    address as text (``[image: alt] (http://…)``), a link its text followed by its address: no
    ``<img>``, no ``<a>``, so opening a preview never contacts a server a step chose.

    Example:
        >>> out = markdown_html("# Hi\\n\\n![x](http://evil.example/p.png) [y](http://evil.example) <img src=z>")
        >>> "<img" in out or "<a " in out, "<h1>Hi</h1>" in out, "http://evil.example/p.png" in out
        (False, True, True)
    """
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(["table", "strikethrough"])
    targets: list[str] = []

    def image(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        alt = html_lib.escape(token.content or "image")
        src = html_lib.escape(str(token.attrGet("src") or ""))
        return f"<span>[image: {alt}]</span> <code>{src}</code>"

    def link_open(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        targets.append(str(tokens[idx].attrGet("href") or ""))
        return ""

    def link_close(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        href = targets.pop() if targets else ""
        return f" <code>({html_lib.escape(href)})</code>" if href else ""

    md.add_render_rule("image", image)
    md.add_render_rule("link_open", link_open)
    md.add_render_rule("link_close", link_close)
    return md.render(text)
