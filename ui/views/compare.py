"""Compare: experiments or trials side by side — parameters and metrics, histories, learning curves, artifacts."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui import data, figures, nav, widgets
from workbench import readmodel as rm


def _known_trial(label: str) -> bool:
    """``EXPERIMENT:NUMBER`` naming a trial that exists."""
    experiment, _, number = label.rpartition(":")
    if experiment not in names or not number.isdigit():
        return False
    return data.trial_row(experiment, int(number)) is not None


st.title("Compare")
exps = data.experiments()
exps = exps[~exps["archived"]] if not exps.empty else exps
if exps.empty:
    widgets.no_experiments()
    st.stop()
names = exps["name"].tolist()
mode = st.radio(
    "Compare",
    ["Trials", "Experiments"],
    horizontal=True,
    key="cmp_mode",
    index=1 if nav.param("experiments") and not nav.param("trials") else 0,
)

if mode == "Experiments":
    asked = [n for n in (nav.param("experiments") or "").split(",") if n]
    unknown = [n for n in asked if n not in names]
    if unknown:
        widgets.not_found(
            "experiment", ", ".join(unknown), names, lambda n: nav.link("experiment", n, name=n), " in this workspace"
        )
    wanted = asked
    chosen = st.multiselect("Experiments", names, default=wanted or names[:2], key="cmp_exps")
    if len(chosen) < 2:
        st.info("Choose two or more experiments.")
        st.stop()
    datas = {n: data.experiment(n) for n in chosen}
    baseline = st.selectbox("Baseline", chosen, key="cmp_exp_base")
    only = st.toggle("Differences only", value=False, key="cmp_exp_diff")
    records = {n: rm.experiment_record(d.summary, d.spec) for n, d in datas.items()}
    st.dataframe(
        widgets.differences(rm.side_by_side(records, baseline=baseline, differences_only=only)), key="cmp_exp_tab"
    )
    st.caption("Highlighted: the fields that differ from the baseline.")
    st.plotly_chart(
        figures.history_overlay({n: (d.trials, d.objective_column(), d.directions[0]) for n, d in datas.items()}),
        key="cmp_exp_hist",
    )
    st.plotly_chart(
        figures.edf(
            {
                n: d.trials.loc[d.trials["state"] == "Succeeded", d.objective_column()]
                for n, d in datas.items()
                if d.objective_column() in d.trials
            }
        ),
        key="cmp_exp_edf",
    )
    inter = pd.concat([d.intermediate.assign(label=n) for n, d in datas.items()], ignore_index=True)
    if len(inter):
        best = {n: d.summary["best_trial"] for n, d in datas.items() if d.summary["best_trial"] is not None}
        curves = (
            pd.concat(
                [
                    datas[n].intermediate[datas[n].intermediate["number"] == b].assign(label=f"{n} #{b}")
                    for n, b in best.items()
                ],
                ignore_index=True,
            )
            if best
            else pd.DataFrame()
        )
        if len(curves):
            st.plotly_chart(figures.curves(curves, title="Learning curves of the best trials"), key="cmp_exp_lc")
    st.stop()

# ------------------------------------------------------------------ trials
wanted = [x for x in (nav.param("trials") or "").split(",") if x]
unknown = [w for w in wanted if not _known_trial(w)]
if unknown:
    widgets.not_found(
        "trial",
        ", ".join(unknown),
        names,
        lambda n: nav.link("experiment", n, name=n, view="Trials"),
        listing="Trials are named EXPERIMENT:NUMBER; pick them in an experiment's trial table",
    )
default_exp = wanted[0].rsplit(":", 1)[0] if wanted else (st.session_state.get("last_experiment") or names[0])
options: list[str] = []
for n in dict.fromkeys([default_exp, *[w.rsplit(":", 1)[0] for w in wanted]]):
    if n in names:
        options += [f"{n}:{k}" for k in data.experiment(n).trials["number"]]
extra = st.multiselect("Also list trials of", [n for n in names if n != default_exp], key="cmp_more_exps")
for n in extra:
    options += [f"{n}:{k}" for k in data.experiment(n).trials["number"]]
default = [w for w in wanted if w in options] or options[:2]
chosen = st.multiselect("Trials (experiment:trial)", options, default=default, key="cmp_trials")
if len(chosen) < 2:
    st.info("Choose two or more trials (select rows on an Experiment page and press Compare, or pick them here).")
    st.stop()

rows: dict[str, pd.Series] = {}
for label in chosen:
    n, k = label.rsplit(":", 1)
    r = data.trial_row(n, int(k))
    if r is not None:
        rows[label] = r
baseline = st.selectbox("Baseline", list(rows), key="cmp_base")
only = st.toggle("Differences only", value=False, key="cmp_diff")
table = rm.side_by_side({lab: rm.trial_record(r) for lab, r in rows.items()}, baseline=baseline, differences_only=only)
st.dataframe(widgets.differences(table), key="cmp_table")
st.caption("Highlighted: the fields that differ from the baseline.")

# Histories: MLflow's (every metric), else the objective's intermediate values; one-value metrics as a table.
hist_frames = []
for lab, r in rows.items():
    ml = data.mlflow_run(lab.rsplit(":", 1)[0], str(r["run_id"]))
    if ml.run_id:
        hist_frames.append(data.metric_history(ml.run_id).assign(label=lab))
hist = pd.concat(hist_frames, ignore_index=True) if hist_frames else pd.DataFrame()
if len(hist):
    once = figures.logged_once(hist)
    series = hist[~hist["metric"].isin(once)]
    if len(series):
        st.plotly_chart(figures.curves(series, title="Metric histories (MLflow)"), key="cmp_hist")
    if once:
        final = hist[hist["metric"].isin(once)].drop_duplicates(["metric", "label"], keep="last")
        st.markdown("**Metrics with one value per trial**")
        st.dataframe(widgets.formatted(final.pivot(index="metric", columns="label", values="value")), key="cmp_once")
else:
    inter = pd.concat(
        [data.intermediate_of(lab.rsplit(":", 1)[0], [int(lab.rsplit(":", 1)[1])]).assign(label=lab) for lab in rows],
        ignore_index=True,
    )
    if len(inter):
        st.plotly_chart(figures.curves(inter, title="Intermediate values (objective)"), key="cmp_inter")

# Artifacts
st.subheader("Artifacts")
arts = {lab: [a for a in data.run_steps(str(r["run_id"]))[1] if a["direction"] == "output"] for lab, r in rows.items()}
keys = [f"{a['step']}/{a['name']}" for a in next(iter(arts.values()), [])]
common = [k for k in keys if all(k in {f"{a['step']}/{a['name']}" for a in v} for v in arts.values())]
if not common:
    st.info("These trials have no output in common.")
    st.stop()
labels = list(rows)
c1, c2, c3 = st.columns(3)
which = c1.selectbox("Output", common, key="cmp_art")
left = c2.selectbox("Left", labels, index=labels.index(baseline), key="cmp_left")
right = c3.selectbox("Right", labels, index=1 if labels[0] == left else 0, key="cmp_right")


def artifact_of(label: str) -> dict:
    return next(a for a in arts[label] if f"{a['step']}/{a['name']}" == which)


try:
    la, ra = artifact_of(left), artifact_of(right)
    lp, rp = data.preview(la["uri"], la["type"]), data.preview(ra["uri"], ra["type"])
    if lp.kind == "folder" and rp.kind == "folder":
        files = sorted(
            {f["path"] for f in lp.files if not f["refused"]} & {f["path"] for f in rp.files if not f["refused"]}
        )
        member = st.selectbox("File in the folder", files, key="cmp_member") if files else None
        if member:
            lp, rp = data.preview(la["uri"], la["type"], member), data.preview(ra["uri"], ra["type"], member)
    widgets.compare_previews(lp, rp, (left, right), "cmp_prev")
except rm.ArtifactAccessError as err:
    st.error(f"not shown: {err}")
