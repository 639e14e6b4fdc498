"""New experiment (``workbench ui --allow-launch`` only): edit or paste a YAML, see errors as you type, launch it."""

from __future__ import annotations

import streamlit as st

from ui import data, nav, widgets
from workbench import readmodel as rm
from workbench.spec import list_templates

st.title("New experiment")
if not data.allow_launch():
    st.error("Launching is off: start the dashboard with `workbench ui --allow-launch`.")
    st.stop()

templates = sorted(list_templates())
c1, c2 = st.columns([2, 1])
template = c1.selectbox("Start from a trial template", templates, key="new_tpl") if templates else None
if c2.button("Use this template", disabled=template is None, key="new_use"):
    st.session_state["new_yaml"] = rm.starter_yaml(template)
if "new_yaml" not in st.session_state:
    st.session_state["new_yaml"] = rm.starter_yaml(templates[0]) if templates else ""
text = st.text_area(
    "Experiment YAML (Workbench or Katib kubeflow.org/v1beta1)",
    key="new_yaml",
    height=460,
    help="Validated on every change (Ctrl+Enter applies while typing).",
)
check = rm.check_yaml(text)
if check.ok:
    spec = check.spec
    st.success(
        f"valid: experiment **{spec.name}** — {spec.algorithm.algorithm_name}, "
        f"{spec.max_trial_count or 'unlimited'} trials, {len(spec.parameters)} parameters"
    )
    for warning in check.warnings:  # what `workbench validate` warns about: the experiment can still be launched
        st.warning(f"warning: {widgets.plain(warning)}")
else:
    for err in check.errors:
        st.error(f"{widgets.plain(err['path'] or '(document)')}: {widgets.plain(err['message'])}")
if st.button("Launch", type="primary", disabled=not check.ok, key="new_launch"):
    try:
        started = rm.launch(data.workspace(), text)
    except Exception as err:  # noqa: BLE001 - shown to the user
        st.error(f"could not launch: {widgets.plain(err)}")
    else:
        st.session_state["launched"] = started
if "launched" in st.session_state:
    info = st.session_state["launched"]
    st.success(f"launched **{info['name']}** (controller pid {info['pid']}); output in `{info['log']}`")
    nav.link("experiment", f"Open {info['name']}", name=info["name"])
    nav.link("experiments", "All experiments")
