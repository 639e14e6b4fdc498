"""Bounded, safe YAML reading: every problem becomes a ``SpecError``.

Defences: files over :data:`MAX_SPEC_BYTES` are refused before parsing; a document may
nest at most :data:`MAX_DEPTH` levels; aliases may be used at most :data:`MAX_ALIASES`
times and may add at most :data:`MAX_ALIAS_EXPANSION` nodes once expanded (this stops
"billion laughs" bombs, whose few aliases expand exponentially); recursive aliases are
refused. Mapping keys must be strings (``yes:``/``on:`` would silently become booleans),
timestamps stay strings, and tags without a JSON equivalent (``!!binary``, ``!!set``,
``!!omap``, ``!!pairs``) are refused, so that every loaded document is plain JSON data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from workbench.errors import SpecError

#: Files larger than this are refused before parsing.
MAX_SPEC_BYTES = 5 * 1024 * 1024
#: Alias uses allowed per document.
MAX_ALIASES = 1000
#: Nodes that alias expansion may add to a document.
MAX_ALIAS_EXPANSION = 100_000
#: Nesting levels allowed in a document.
MAX_DEPTH = 100

_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_REFUSED_TAGS = {
    "tag:yaml.org,2002:binary": "binary data",
    "tag:yaml.org,2002:set": "a set",
    "tag:yaml.org,2002:omap": "an ordered map",
    "tag:yaml.org,2002:pairs": "a list of pairs",
}


class _YamlLimit(Exception):
    """Raised inside the loader; carries the message and the position."""

    def __init__(self, message: str, mark: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


def _at(mark: Any) -> str:
    return f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader with limits on aliases, depth and expansion, and JSON-only values."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _YamlLimit(
                    f"too many YAML aliases (more than {MAX_ALIASES}); refusing to expand",
                    self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _YamlLimit(f"YAML nesting is deeper than {MAX_DEPTH} levels", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR_TAG:
                    shown = key_node.value if isinstance(key_node, yaml.ScalarNode) else "a collection"
                    raise _YamlLimit(
                        f"mapping keys must be strings; quote the key {shown!r}", key_node.start_mark
                    )
        return super().construct_mapping(node, deep=deep)

    def _refuse(self, node: Any) -> Any:
        raise _YamlLimit(f"{_REFUSED_TAGS.get(node.tag, node.tag)} ({node.tag}) is not supported", node.start_mark)

    def _timestamp_as_text(self, node: Any) -> Any:
        return self.construct_scalar(node)


for _tag in _REFUSED_TAGS:
    _BoundedLoader.add_constructor(_tag, _BoundedLoader._refuse)
_BoundedLoader.add_constructor("tag:yaml.org,2002:timestamp", _BoundedLoader._timestamp_as_text)


def _check_expansion(root: Any) -> None:
    """Refuse recursive aliases and documents that aliases blow up."""
    sizes: dict[int, int] = {}
    heights: dict[int, int] = {}
    active: set[int] = set()
    unique = 0

    def children(node: Any) -> list[Any]:
        if isinstance(node, yaml.SequenceNode):
            return list(node.value)
        if isinstance(node, yaml.MappingNode):
            return [n for pair in node.value for n in pair]
        return []

    def visit(node: Any, depth: int) -> int:
        nonlocal unique
        key = id(node)
        if key in active:
            raise _YamlLimit("recursive YAML alias (a node contains itself)", node.start_mark)
        if key in sizes:
            if depth + heights[key] > MAX_DEPTH:
                raise _YamlLimit(f"YAML nesting is deeper than {MAX_DEPTH} levels", node.start_mark)
            return sizes[key]
        if depth > MAX_DEPTH:
            raise _YamlLimit(f"YAML nesting is deeper than {MAX_DEPTH} levels", node.start_mark)
        active.add(key)
        unique += 1
        size, height = 1, 0
        for child in children(node):
            size += visit(child, depth + 1)
            height = max(height, heights[id(child)] + 1)
            if size - unique > MAX_ALIAS_EXPANSION:
                raise _YamlLimit(
                    f"YAML aliases expand to more than {MAX_ALIAS_EXPANSION} extra nodes; refusing to expand",
                    node.start_mark,
                )
        active.discard(key)
        sizes[key] = size
        heights[key] = height
        return size

    total = visit(root, 0)
    if total - unique > MAX_ALIAS_EXPANSION:
        raise _YamlLimit(f"YAML aliases expand to more than {MAX_ALIAS_EXPANSION} extra nodes; refusing to expand")


def parse_yaml(text: str, source: str = "<string>") -> Any:
    """Parse one YAML document, turning every error into a ``SpecError`` naming the line.

    Example:
        >>> parse_yaml("a: [1, 2]")
        {'a': [1, 2]}
    """
    if not isinstance(text, str):
        raise SpecError(f"expected YAML text, got {type(text).__name__}", source=source)
    if len(text) > MAX_SPEC_BYTES or len(text.encode("utf-8", errors="replace")) > MAX_SPEC_BYTES:
        raise SpecError(f"file is larger than {MAX_SPEC_BYTES // (1024 * 1024)} MB", source=source)
    try:
        loader = _BoundedLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            if loader._aliases:
                _check_expansion(node)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except _YamlLimit as err:
        raise SpecError(f"{err.message}{_at(err.mark)}", source=source) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        problem = ", ".join(part for part in (err.context, err.problem) if part) or "invalid syntax"
        raise SpecError(f"malformed YAML at {where}: {problem}", source=source) from None
    except yaml.YAMLError as err:
        raise SpecError(f"malformed YAML: {err}", source=source) from None
    except RecursionError:
        raise SpecError("YAML nesting is too deep", source=source) from None


def read_yaml(path: str | Path) -> Any:
    """Read and parse a YAML file; a missing, unreadable or oversized file is a ``SpecError``."""
    if not isinstance(path, (str, Path)):
        raise SpecError(f"expected a file path, got {type(path).__name__}")
    p = Path(path)
    try:
        if not p.exists():
            raise SpecError("file not found", source=str(p))
        if p.is_dir():
            raise SpecError("is a directory, expected a YAML file", source=str(p))
        if p.stat().st_size > MAX_SPEC_BYTES:
            raise SpecError(f"file is larger than {MAX_SPEC_BYTES // (1024 * 1024)} MB", source=str(p))
        with p.open("rb") as handle:
            raw = handle.read(MAX_SPEC_BYTES + 1)
    except (OSError, ValueError) as err:
        raise SpecError(f"cannot read file: {err}", source=str(p)) from None
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError(f"file is larger than {MAX_SPEC_BYTES // (1024 * 1024)} MB", source=str(p))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise SpecError(f"cannot read file: not UTF-8 text ({err.reason} at byte {err.start})", source=str(p)) from None
    return parse_yaml(text, source=str(p))
