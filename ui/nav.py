"""Page registry: the pages of the app and links between them (with query parameters)."""

from __future__ import annotations

from typing import Any

import streamlit as st

#: key -> (file, title, icon, url path); the order is the sidebar's.
PAGES = {
    "experiments": ("views/experiments.py", "Experiments", ":material/science:", "experiments"),
    "experiment": ("views/experiment.py", "Experiment", ":material/monitoring:", "experiment"),
    "trial": ("views/trial.py", "Trial", ":material/account_tree:", "trial"),
    "compare": ("views/compare.py", "Compare", ":material/compare:", "compare"),
    "lineage": ("views/lineage.py", "Lineage", ":material/hub:", "lineage"),
    "runs": ("views/runs.py", "Runs", ":material/play_circle:", "runs"),
    "new": ("views/new_experiment.py", "New experiment", ":material/add_circle:", "new_experiment"),
}
_built: dict[str, Any] = {}


def build(allow_launch: bool) -> list[Any]:
    """The ``st.Page`` objects for ``st.navigation`` (New experiment only in launch mode)."""
    _built.clear()
    for key, (path, title, _icon, url) in PAGES.items():
        if key == "new" and not allow_launch:
            continue
        # No icon: a page icon becomes the favicon, which Streamlit fetches from a font CDN (offline here).
        _built[key] = st.Page(path, title=title, url_path=url, default=key == "experiments")
    return list(_built.values())


def page(key: str) -> Any:
    return _built.get(key) or PAGES[key][0]


def go(key: str, **params: Any) -> None:
    """Switch to a page with query parameters (values joined with commas when lists)."""
    st.switch_page(page(key), query_params=_params(params))


def link(key: str, label: str, **params: Any) -> None:
    """A link to a page of the app with query parameters (opens in this tab; styled as a link by ``app.py``)."""
    st.page_link(page(key), label=label, query_params=_params(params), icon=":material/arrow_forward:")


def _params(params: dict[str, Any]) -> dict[str, str]:
    out = {}
    for k, v in params.items():
        if v is None:
            continue
        out[k] = ",".join(str(x) for x in v) if isinstance(v, (list, tuple)) else str(v)
    return out


def param(name: str, default: str | None = None) -> str | None:
    """A query parameter of the current page."""
    value = st.query_params.get(name)
    return value if value not in (None, "") else default
