"""Bounded, safe YAML reading: every problem becomes a ``SpecError``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from workbench.errors import SpecError

#: Files larger than this are refused before parsing.
MAX_SPEC_BYTES = 5 * 1024 * 1024
#: Alias expansions allowed per document (defeats "billion laughs" YAML bombs).
MAX_ALIASES = 1000


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses documents expanding too many aliases."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:  # noqa: D401
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise SpecError(f"too many YAML aliases (more than {MAX_ALIASES}); refusing to expand")
        return super().compose_node(parent, index)


def parse_yaml(text: str, source: str = "<string>") -> Any:
    """Parse one YAML document, turning every error into a ``SpecError`` naming the line."""
    if len(text.encode("utf-8", errors="replace")) > MAX_SPEC_BYTES:
        raise SpecError(f"file is larger than {MAX_SPEC_BYTES // (1024 * 1024)} MB", source=source)
    try:
        loader = _BoundedLoader(text)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except SpecError as err:
        raise SpecError(err.message, source=source) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise SpecError(f"malformed YAML at {where}: {err.problem}", source=source) from None
    except yaml.YAMLError as err:
        raise SpecError(f"malformed YAML: {err}", source=source) from None
    except RecursionError:
        raise SpecError("YAML nesting is too deep", source=source) from None


def read_yaml(path: str | Path) -> Any:
    """Read and parse a YAML file; a missing or unreadable file is a ``SpecError``."""
    p = Path(path)
    if not p.exists():
        raise SpecError("file not found", source=str(p))
    if p.is_dir():
        raise SpecError("is a directory, expected a YAML file", source=str(p))
    if p.stat().st_size > MAX_SPEC_BYTES:
        raise SpecError(f"file is larger than {MAX_SPEC_BYTES // (1024 * 1024)} MB", source=str(p))
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(f"cannot read file: {err}", source=str(p)) from None
    return parse_yaml(text, source=str(p))
