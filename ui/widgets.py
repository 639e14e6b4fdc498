"""Layout pieces shared by several pages: pickers, the paged trial table, artifact previews and comparisons."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import Any

import pandas as pd
import streamlit as st
import streamlit.components.v1 as components
from pandas.io.formats.style import Styler

from ui import data, figures, nav
from workbench import readmodel as rm
from workbench.format import format_distinct, format_value

STATE_MARK = {
    "Succeeded": "green",
    "Failed": "red",
    "MetricsUnavailable": "red",
    "Pruned": "orange",
    "Killed": "violet",
    "Stopped": "violet",
    "Running": "blue",
    "Pending": "gray",
    "Created": "gray",
    "Cached": "blue",
    "Skipped": "gray",
    "Cancelled": "violet",
}


def badge(state: str) -> str:
    """Markdown for a colored state."""
    color = STATE_MARK.get(str(state), "gray")
    return f":{color}-badge[{state}]"


def duration(seconds: Any) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


#: Every ASCII punctuation character: CommonMark lets each be escaped with a backslash (then shown as itself).
_MARKDOWN_PUNCTUATION = re.compile(r"[!-/:-@\[-`{-~]")


def plain(text: Any) -> str:
    r"""``text`` (written by a step, or from a URL) as Markdown that shows it literally.

    Streamlit renders Markdown in every ``st.markdown``, ``st.error``, ``st.caption``, ...: a failure message
    such as ``![x](http://host/p.png)`` would make the viewer's browser fetch that image, and ``:red[..]`` or
    ``$..$`` would be rendered. Escaped, it is only text.

    Example:
        >>> print(plain("![x](p.png) *hi*"))
        \!\[x\]\(p\.png\) \*hi\*
    """
    return _MARKDOWN_PUNCTUATION.sub(lambda m: "\\" + m.group(0), str(text)).replace("\n", "  \n")


def formatted(frame: pd.DataFrame, columns: Iterable[str] | None = None) -> Styler:
    """``frame`` for ``st.dataframe`` with its numbers shown by :func:`workbench.format.format_value` (the values
    underneath stay whole: sorting a column sorts numbers, the CSV download has every digit).

    ``columns``: which columns to format (default: every numeric or mixed one; never booleans or dates).
    """
    chosen = list(frame.columns) if columns is None else [c for c in columns if c in frame.columns]
    keep = [
        c
        for c in chosen
        if not pd.api.types.is_bool_dtype(frame[c]) and not pd.api.types.is_datetime64_any_dtype(frame[c])
    ]
    return frame.style.format(format_value, subset=keep)


#: Background of the rows of a side-by-side table that differ from the baseline.
DIFFERS = "background-color: #fff1c2"


def differences(table: pd.DataFrame) -> Styler:
    """A side-by-side table (:func:`workbench.readmodel.side_by_side`) to show: values read by the one formatter
    (numbers that differ keep enough digits to read differently), the rows that differ from the baseline
    highlighted instead of a True/False column."""
    differs = table["differs"] if "differs" in table.columns else pd.Series(False, index=table.index)
    values = table.drop(columns=["differs"], errors="ignore")
    labels = [c for c in values.columns if not str(c).startswith("Δ ")]
    shown = pd.DataFrame(
        [format_distinct(list(row)) for row in values[labels].itertuples(index=False, name=None)],
        index=values.index,
        columns=labels,
    )
    for column in values.columns.difference(labels, sort=False):
        shown[column] = values[column].map(lambda v: "" if v is None else format_value(v))
    return shown.style.apply(lambda row: [DIFFERS if differs[row.name] else ""] * len(row), axis=1)


def no_experiments() -> None:
    st.info(
        f"No experiments in `{data.home()}` yet. Start one with `workbench run examples/quickstart.yaml`"
        + (" or on the **New experiment** page." if data.allow_launch() else ".")
    )


def not_found(
    what: str, wanted: Any, known: list[Any], link: Any | None = None, where: str = "", listing: str = ""
) -> None:
    """Say that ``wanted`` (from the URL) is not a known ``what`` (``where``: e.g. " in quad-ui"), list the known
    ones, and stop the page there: nothing else is shown in its place.

    ``link(item)`` renders one known item as a link (default: a plain list); ``listing`` heads the list.
    """
    st.error(f"{what.capitalize()} **{plain(wanted)}** not found{plain(where)}.")
    if not known:
        st.stop()
    shown = known[:30]
    more = f" (the first 30 of {len(known):,})" if len(known) > 30 else ""
    st.markdown(f"{listing or what.capitalize() + 's' + plain(where)}{more}:")
    if link is None:
        st.markdown(", ".join(plain(k) for k in shown))
    else:
        for item in shown:
            link(item)
    st.stop()


def pick_experiment(key: str = "experiment") -> str | None:
    """A selectbox of experiments; the default comes from ``?name=`` (or ``?experiment=``) or the last one picked.

    A name in the URL that is not an experiment stops the page with "not found" (never shows another one).
    """
    exps = data.experiments()
    if exps.empty:
        no_experiments()
        return None
    every = exps["name"].tolist()
    from_url = nav.param("name") or nav.param("experiment")
    if from_url is not None and from_url not in every:
        page = key if key in nav.PAGES else "experiment"  # links to the same page, for another experiment
        param = "name" if page == "experiment" else "experiment"
        not_found("experiment", from_url, every, lambda n: nav.link(page, n, **{param: n}), " in this workspace")
    wanted = from_url or st.session_state.get("last_experiment")
    # Archived experiments are not offered, unless asked for by name.
    names = [n for n, a in zip(exps["name"], exps["archived"], strict=True) if not a or n == wanted]
    if not names:
        no_experiments()
        return None
    index = names.index(wanted) if wanted in names else 0
    name = st.selectbox("Experiment", names, index=index, key=f"pick_{key}")
    st.session_state["last_experiment"] = name
    return name


# ------------------------------------------------------------------ trial table


def trial_table(trials: pd.DataFrame, exp: rm.ExperimentData, key: str, objective: int = 0) -> list[int]:
    """The trial table: sort, page (:data:`data.PAGE_SIZE` rows), CSV download; returns the selected trial numbers.

    Sorted by ``objective`` (an index into ``exp.objectives``) at first, best first; numbers shown by the one
    formatter (:func:`formatted`)."""
    cols = st.columns([2, 1, 1, 1])
    sortable = [
        "number",
        *[c for c in trials.columns if c.startswith(("metrics.", "params."))],
        "duration_s",
        "started",
    ]
    first = exp.objective_column(objective)
    default_sort = first if first in sortable else "number"
    sort_by = cols[0].selectbox("Sort by", sortable, index=sortable.index(default_sort), key=f"{key}_sort")
    direction = exp.directions[objective] if objective < len(exp.directions) else "minimize"
    ascending_default = not (sort_by == first and direction == "maximize")
    ascending = cols[1].toggle("Ascending", value=ascending_default, key=f"{key}_asc")
    view = rm.sort_trials(trials, sort_by, ascending=ascending)  # by a metric: succeeded trials first
    pages = max(1, math.ceil(len(view) / data.PAGE_SIZE))
    page = int(cols[2].number_input(f"Page (of {pages})", 1, pages, 1, key=f"{key}_page")) if pages > 1 else 1
    cols[3].download_button(
        "Download CSV",
        view.to_csv(index=False).encode(),
        file_name=f"{exp.name}-trials.csv",
        mime="text/csv",
        key=f"{key}_csv",
    )
    part = view.iloc[(page - 1) * data.PAGE_SIZE : page * data.PAGE_SIZE]
    # Fits the page: no finish time (start + duration say it), no run id; the CSV download has every column.
    hidden = ["run_id", "imported", "finished"] + ([] if part["message"].astype(bool).any() else ["message"])
    shown = part.drop(columns=hidden)
    values = [c for c in shown.columns if c.startswith(("params.", "metrics."))]
    short = {c: c.split(".", 1)[1] for c in values}
    renamed = [short.get(c, c) for c in shown.columns]
    if len(set(renamed)) == len(renamed):  # bare names, unless a parameter and a metric share one
        shown, values = shown.rename(columns=short), list(short.values())
    event = st.dataframe(
        formatted(shown, values),
        hide_index=True,
        on_select="rerun",
        selection_mode="multi-row",
        key=f"{key}_df",
        column_config={
            "number": st.column_config.NumberColumn("trial", format="%d", width="small"),
            "duration_s": st.column_config.NumberColumn("duration (s)", format="%.2f", width="small"),
            "started": st.column_config.DatetimeColumn("started (UTC)", format="MM-DD HH:mm:ss", width="small"),
            "intermediate_steps": st.column_config.NumberColumn(
                "reports", format="%d", width="small", help="intermediate values reported"
            ),
        },
    )
    ranked = sort_by.startswith("metrics.") and (view["state"] != "Succeeded").any()
    st.caption(
        f"{len(view):,} trials"
        + (f", page {page} of {pages}" if pages > 1 else "")
        + (
            " · succeeded trials first: a pruned or failed trial's value is its last report, not a result"
            if ranked
            else ""
        )
    )
    rows = list(getattr(getattr(event, "selection", None), "rows", []) or [])
    return [int(part.iloc[r]["number"]) for r in rows if r < len(part)]


def trial_actions(name: str, numbers: list[int], key: str) -> None:
    """Buttons for selected trials: open one, compare several."""
    c1, c2, c3 = st.columns([1, 1, 3])
    if c1.button("Open trial", disabled=len(numbers) != 1, key=f"{key}_open", type="primary"):
        nav.go("trial", experiment=name, trial=numbers[0])
    if c2.button(
        f"Compare {len(numbers)} trials" if numbers else "Compare trials", disabled=len(numbers) < 2, key=f"{key}_cmp"
    ):
        nav.go("compare", trials=[f"{name}:{n}" for n in numbers])
    c3.caption("Select rows (left edge of the table) to open a trial or compare trials.")


# ------------------------------------------------------------------ artifacts


def render_preview(p: rm.Preview, key: str, height: int = 420) -> None:
    """Show an artifact preview according to its kind."""
    size = f"{p.size:,} bytes" if p.size else ""
    st.caption(" · ".join(plain(x) for x in (p.name, p.kind, size, p.note) if x))
    if p.kind == "table":
        st.dataframe(p.data, height=min(height, 40 + 35 * len(p.data)), key=f"{key}_tbl")
    elif p.kind == "image":
        st.image(p.data, caption=p.name)
    elif p.kind == "confusion":
        st.plotly_chart(figures.confusion_matrix(p.data.get("labels", []), p.data["matrix"]), key=f"{key}_cm")
    elif p.kind == "metrics":
        st.plotly_chart(figures.metrics_bars({p.name: _numbers(p.data)}, title=p.name), key=f"{key}_mb")
        st.json(p.data, expanded=False)
    elif p.kind == "json":
        st.json(p.data, expanded=2)
    elif p.kind == "markdown":
        with st.container(border=True):
            st.html(rm.markdown_html(p.data))  # no image or link: the page fetches nothing a step chose
        st.caption("Images and links in Markdown artifacts are shown as their addresses: nothing is fetched.")
    elif p.kind == "html":
        components.html(rm.html_sandbox(p.data, height=height), height=height + 20, scrolling=True)
        st.caption("HTML is shown in a sandboxed frame: scripts do not run.")
    elif p.kind == "yaml":
        st.code(p.data, language="yaml")
    elif p.kind == "text":
        st.code(p.data, language=None)
    elif p.kind == "arrays":
        rows = [{"array": k, **{f: (str(x) if f == "head" else x) for f, x in v.items()}} for k, v in p.data.items()]
        st.dataframe(pd.DataFrame(rows), hide_index=True, key=f"{key}_arr")
    elif p.kind == "folder":
        files = pd.DataFrame(p.files)
        if files.empty:
            st.write("(empty folder)")
        else:
            st.dataframe(files, hide_index=True, key=f"{key}_files")
    else:
        st.text(p.note or "binary file")


def _numbers(d: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in d.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def artifact_viewer(artifact: dict[str, Any], key: str) -> None:
    """Preview of one artifact (a folder lets the user pick a file inside it)."""
    try:
        p = data.preview(artifact["uri"], artifact.get("type", ""))
        if p.kind == "folder":
            files = [f["path"] for f in p.files if not f["refused"]]
            render_preview(p, key)
            if files:
                member = st.selectbox("File", files, key=f"{key}_member")
                render_preview(data.preview(artifact["uri"], artifact.get("type", ""), member), f"{key}_m")
        else:
            render_preview(p, key)
    except rm.ArtifactAccessError as err:
        st.error(f"not shown: {plain(err)}")


def compare_previews(left: rm.Preview, right: rm.Preview, labels: tuple[str, str], key: str) -> None:
    """The same output of two trials next to each other, with a diff suited to its kind."""
    a, b = labels
    if left.kind == "table" and right.kind == "table":
        diff = rm.table_diff(left.data, right.data)
        c = st.columns(4)
        c[0].metric(f"rows {a} / {b}", f"{diff['left_shape'][0]} / {diff['right_shape'][0]}")
        c[1].metric(f"columns {a} / {b}", f"{diff['left_shape'][1]} / {diff['right_shape'][1]}")
        c[2].metric("changed cells", f"{len(diff['changed']):,}")
        c[3].metric("rows only on one side", f"{len(diff['only_left_rows'])} / {len(diff['only_right_rows'])}")
        if diff["only_left_columns"] or diff["only_right_columns"]:
            st.write(f"columns only in {a}: {diff['only_left_columns']}; only in {b}: {diff['only_right_columns']}")
        st.markdown("**Summary statistics**")
        st.dataframe(diff["stats"], hide_index=True, key=f"{key}_stats")
        st.markdown("**Changed cells**")
        st.dataframe(diff["changed"].astype(str), hide_index=True, key=f"{key}_chg")
        cols = st.columns(2)
        for col, p, label in ((cols[0], left, a), (cols[1], right, b)):
            with col:
                st.markdown(f"**{label}**")
                render_preview(p, f"{key}_{label}")
        return
    if left.kind == "confusion" and right.kind == "confusion":
        cols = st.columns(3)
        cols[0].plotly_chart(
            figures.confusion_matrix(left.data.get("labels", []), left.data["matrix"], title=a), key=f"{key}_cma"
        )
        cols[1].plotly_chart(
            figures.confusion_matrix(right.data.get("labels", []), right.data["matrix"], title=b), key=f"{key}_cmb"
        )
        try:
            import numpy as np

            delta = np.array(right.data["matrix"], dtype=float) - np.array(left.data["matrix"], dtype=float)
            cols[2].plotly_chart(
                figures.confusion_matrix(left.data.get("labels", []), delta, title=f"{b} − {a}", diverging=True),
                key=f"{key}_cmd",
            )
        except ValueError:
            cols[2].write("matrices of different shapes")
        return
    if left.kind == "metrics" and right.kind == "metrics":
        st.plotly_chart(
            figures.metrics_bars({a: _numbers(left.data), b: _numbers(right.data)}, title=left.name), key=f"{key}_bars"
        )
        st.dataframe(rm.side_by_side({a: left.data, b: right.data}, baseline=a), key=f"{key}_mtab")
        return
    if left.kind == "image" and right.kind == "image":
        cols = st.columns(2)
        cols[0].image(left.data, caption=a)
        cols[1].image(right.data, caption=b)
        return
    texts = {}
    for label, p in ((a, left), (b, right)):
        if p.kind in ("json", "metrics", "confusion"):
            texts[label] = rm.json_text(p.data)
        elif p.kind in ("text", "yaml", "markdown", "html"):
            texts[label] = str(p.data)
    if len(texts) == 2:
        diff = rm.text_diff(texts[a], texts[b], a, b)
        st.markdown("**Diff**" + ("" if diff else " — identical"))
        if diff:
            st.code(diff, language="diff")
    cols = st.columns(2)
    for col, p, label in ((cols[0], left, a), (cols[1], right, b)):
        with col:
            st.markdown(f"**{label}**")
            render_preview(p, f"{key}_{label}")


def json_block(value: Any) -> str:
    return json.dumps(value, indent=2, default=str)
