"""The examples: every spec loads, and the scripts and components they run behave as their specs expect."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from trials_helpers import EXAMPLES, TRIALS, import_file, markers, subprocess_env

from workbench.dsl import Dataset, Markdown, Model
from workbench.spec import (
    DEFAULT_METRICS_FORMAT,
    KATIB_API_VERSION,
    ExperimentSpec,
    load_component,
    load_experiment,
    load_pipeline,
    read_yaml,
)

EXPERIMENTS = [
    "quickstart.yaml",
    "katib-random.yaml",
    "katib-file-collector.yaml",
    "katib-custom-format.yaml",
    "multi_objective.yaml",
    "warm_start.yaml",
    "kfp/experiment.yaml",
    "kfold-cv.yaml",
]
PIPELINES = ["kfp/pipeline.yaml"]
COMPONENTS = ["kfp/components/preprocess.yaml"]


def experiment(name: str) -> ExperimentSpec:
    return load_experiment(EXAMPLES / name)


def resolve(item: Any, values: dict[str, str]) -> list[str]:
    """Command-line items for one KFP v1 placeholder (what the engine does, for the tests' own runs)."""
    if isinstance(item, (str, int, float)):
        return [str(item)]
    key, value = next(iter(item.items()))
    if key in ("inputValue", "inputPath", "outputPath"):
        return [values[value]]
    if key == "concat":
        return ["".join(part for piece in value for part in resolve(piece, values))]
    if key == "if":
        branch = value["then"] if value["cond"]["isPresent"] in values else value.get("else", [])
        return [part for piece in branch for part in resolve(piece, values)]
    raise AssertionError(f"unexpected placeholder {key}")


def container_argv(exp_or_component: Any, values: dict[str, str]) -> list[str]:
    """The resolved argv of a one-container component, with python3 mapped to this interpreter."""
    container = exp_or_component.implementation.container
    argv = [part for item in [*container.command, *container.args] for part in resolve(item, values)]
    if argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    return argv


def regex_metrics(text: str, formats: list[str]) -> list[tuple[str, float]]:
    found = []
    for line in text.splitlines():
        for fmt in formats:
            for match in re.finditer(fmt, line):
                with contextlib.suppress(ValueError):
                    found.append((match.group(1).strip(), float(match.group(2))))
    return found


# --------------------------------------------------------------------------- every spec loads


def test_every_yaml_is_covered():
    found = sorted(str(p.relative_to(EXAMPLES)) for p in EXAMPLES.rglob("*.yaml"))
    assert found == sorted(EXPERIMENTS + PIPELINES + COMPONENTS)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_loads(name):
    spec = experiment(name)
    assert spec.trial_template.pipeline is not None
    assert spec.max_trial_count and spec.parallel_trial_count <= spec.max_trial_count
    assert spec.max_failed_trial_count is not None


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_objectives_are_metrics_their_templates_report(name):
    """What ``workbench validate`` warns about: no example has an objective its trial template never reports."""
    assert experiment(name).metric_warnings() == []


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_search_settings_are_valid(name):
    """Algorithm and early-stopping settings, the search space and the warm start (as `workbench validate`)."""
    search = pytest.importorskip("workbench.search")
    path = EXAMPLES / name
    search.check_search(load_experiment(path), path.parent)


def test_pipelines_and_components_load():
    pipeline = load_pipeline(EXAMPLES / "kfp" / "pipeline.yaml")
    assert pipeline.topological_order() == ["generate", "preprocess", "train", "model-card"]
    component = load_component(EXAMPLES / "kfp" / "components" / "preprocess.yaml")
    assert component.implementation.container is not None
    assert pipeline.step("preprocess").component == component


def test_readme_lists_every_example():
    readme = (EXAMPLES / "README.md").read_text()
    for name in [*EXPERIMENTS, "warm_start.csv", "python_api.py", "katib/objective.py", "kfp/pipeline.yaml"]:
        assert f"({name})" in readme, name


# --------------------------------------------------------------------------- quickstart and friends


def test_quickstart():
    spec = experiment("quickstart.yaml")
    assert spec.name == "quickstart"
    assert spec.objective.type == "maximize" and spec.objective.objective_metric_name == "accuracy"
    assert spec.objective.additional_metric_names == ["f1"]
    assert spec.objective.strategy("accuracy") == "latest"
    assert spec.algorithm.algorithm_name == "tpe" and "random_state" in spec.algorithm.settings()
    assert spec.early_stopping is not None and spec.early_stopping.algorithm_name == "medianstop"
    settings = {k: int(v) for k, v in spec.early_stopping.settings().items()}
    assert settings["start_step"] < 20, "early stopping must be able to act within the 20 epochs"
    assert (spec.parallel_trial_count, spec.max_trial_count, spec.max_failed_trial_count) == (2, 20, 3)
    params = {p.name: p for p in spec.parameters}
    assert params["alpha"].feasible_space.distribution == "logUniform"
    assert (params["alpha"].feasible_space.min, params["alpha"].feasible_space.max) == (1e-6, 1e-1)
    assert params["penalty"].feasible_space.choices == ["l2", "l1", "elasticnet"]
    assert spec.trial_template.pipeline.name == "sklearn-classifier"
    assert spec.trial_template.arguments["dataset"] == "digits"


def test_multi_objective_metrics_come_from_the_template():
    spec = experiment("multi_objective.yaml")
    assert spec.objective.is_multi
    assert spec.objective.metric_names == ["accuracy", "nonzero_weights"]
    assert spec.objective.directions == ["maximize", "minimize"]
    assert spec.algorithm.algorithm_name == "nsga2"
    assert spec.early_stopping is None
    source = (TRIALS / "sklearn-classifier" / "steps.py").read_text()
    for metric in spec.metric_names:
        assert re.search(rf"report\([^)]*\b{metric}=", source), metric


def test_warm_start_csv_matches_the_objective():
    spec = experiment("warm_start.yaml")
    assert (
        spec.warm_start is not None
        and spec.warm_start.enqueue
        and spec.warm_start.csv == str(EXAMPLES / "warm_start.csv")
    )
    with open(EXAMPLES / spec.warm_start.csv, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == [*(p.name for p in spec.parameters), spec.objective.objective_metric_name]
    quadratic = import_file(TRIALS / "quadratic" / "steps.py")
    epochs = spec.trial_template.arguments["epochs"]
    for row in rows:
        expected = quadratic.loss_at(float(row["x"]), float(row["y"]), epochs)
        assert float(row["loss"]) == pytest.approx(expected, abs=1e-5)
    for point in spec.warm_start.enqueue:
        assert set(point) == {p.name for p in spec.parameters}


# --------------------------------------------------------------------------- Katib


def run_katib_trial(name: str, values: dict[str, str], tmp_path: Path, replace: dict[str, str] | None = None):
    spec = experiment(name)
    pipeline = spec.trial_template.pipeline
    argv = container_argv(pipeline.steps[0].component, values)
    for old, new in (replace or {}).items():
        argv = [arg.replace(old, new) for arg in argv]
    proc = subprocess.run(
        argv, cwd=pipeline.base_dir, env=subprocess_env(), capture_output=True, text=True, timeout=60, check=True
    )
    return spec, proc.stdout


def test_katib_random_is_plain_katib():
    raw = read_yaml(EXAMPLES / "katib-random.yaml")
    assert raw["apiVersion"] == KATIB_API_VERSION and raw["kind"] == "Experiment"
    assert raw["metadata"]["namespace"]
    job = raw["spec"]["trialTemplate"]["trialSpec"]
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    for param in raw["spec"]["parameters"]:
        for key in ("min", "max"):
            if key in param["feasibleSpace"]:
                assert isinstance(param["feasibleSpace"][key], str), "Katib writes numbers as strings"
    spec = experiment("katib-random.yaml")
    assert spec.namespace == "kubeflow"
    assert [p.name for p in spec.trial_template.pipeline.parameters] == ["learningRate", "numberLayers", "optimizer"]
    assert Path(spec.trial_template.pipeline.base_dir) == EXAMPLES


def test_katib_random_trial_prints_what_the_default_regex_finds(tmp_path):
    values = {"learningRate": "0.02", "numberLayers": "4", "optimizer": "adam"}
    spec, out = run_katib_trial("katib-random.yaml", values, tmp_path)
    assert spec.metrics_collector_spec.collector.kind == "StdOut"
    assert spec.metrics_collector_spec.metrics_formats == [DEFAULT_METRICS_FORMAT]
    found = regex_metrics(out, [DEFAULT_METRICS_FORMAT])
    accuracy = [v for n, v in found if n == "accuracy"]
    loss = [v for n, v in found if n == "loss"]
    assert len(accuracy) == len(loss) == 10
    assert all(0.0 <= v <= 1.0 for v in accuracy)
    assert loss[-1] < loss[0] and accuracy[-1] > accuracy[0]
    assert "epoch 3: loss=" in out


def test_katib_objective_rewards_good_settings(tmp_path):
    def final_accuracy(lr: str, layers: str, optimizer: str) -> float:
        values = {"learningRate": lr, "numberLayers": layers, "optimizer": optimizer}
        _, out = run_katib_trial("katib-random.yaml", values, tmp_path)
        return [v for n, v in regex_metrics(out, [DEFAULT_METRICS_FORMAT]) if n == "accuracy"][-1]

    assert final_accuracy("0.02", "4", "adam") > final_accuracy("0.09", "2", "ftrl") + 0.1


def test_katib_custom_format(tmp_path):
    spec, out = run_katib_trial("katib-custom-format.yaml", {"learningRate": "0.02", "numberLayers": "4"}, tmp_path)
    formats = spec.metrics_collector_spec.metrics_formats
    assert formats != [DEFAULT_METRICS_FORMAT]
    names = [n for n, _ in regex_metrics(out, formats) if n in ("loss", "accuracy")]
    assert names.count("loss") == names.count("accuracy") == 10
    assert not [n for n, _ in regex_metrics(out, [DEFAULT_METRICS_FORMAT]) if n in ("loss", "accuracy")]


def test_katib_file_collector_json(tmp_path):
    raw_path = experiment("katib-file-collector.yaml").metrics_collector_spec.source.file_system_path.path
    local = tmp_path / "metrics.json"  # each trial needs its own file; Katib's path may not be writable here
    spec, out = run_katib_trial(
        "katib-file-collector.yaml",
        {"learningRate": "0.02", "optimizer": "adam"},
        tmp_path,
        replace={raw_path: str(local)},
    )
    fs = spec.metrics_collector_spec.source.file_system_path
    assert (spec.metrics_collector_spec.collector.kind, fs.kind, fs.format) == ("File", "File", "JSON")
    assert Path(fs.path).is_absolute(), "Katib requires an absolute metrics path"
    records = [json.loads(line) for line in local.read_text().splitlines()]
    assert len(records) == 8
    for record in records:
        assert isinstance(record["loss"], str) and isinstance(record["accuracy"], str), "Katib reads string values"
        float(record["loss"]), float(record["accuracy"])
        datetime.strptime(record["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ")


def test_katib_objective_text_file_and_errors(tmp_path):
    script = EXAMPLES / "katib" / "objective.py"
    log = tmp_path / "metrics.log"
    run = [sys.executable, str(script), "--lr=0.01", "--epochs=3", f"--log-path={log}", "--log-format=text"]
    subprocess.run(run, check=True, capture_output=True, timeout=60)
    lines = log.read_text().splitlines()
    assert len(lines) == 3
    assert {n for n, _ in regex_metrics(lines[0], [DEFAULT_METRICS_FORMAT])} >= {"loss", "accuracy"}
    datetime.strptime(lines[0].split(" ", 1)[0], "%Y-%m-%dT%H:%M:%S.%fZ")  # Katib's TEXT timestamp prefix
    bad = subprocess.run([sys.executable, str(script), "--lr=-1"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--lr must be positive" in bad.stderr


# --------------------------------------------------------------------------- KFP


@pytest.fixture(scope="module")
def kfp_steps():
    return import_file(EXAMPLES / "kfp" / "steps.py")


@pytest.fixture(scope="module")
def raw_csv(kfp_steps, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("kfp") / "raw.csv"
    with contextlib.redirect_stdout(io.StringIO()):
        kfp_steps.generate.func(Dataset(str(path)), n_samples=200, noise=0.2, seed=0)
    return path


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


@pytest.mark.parametrize("clip", [None, "1.5"])
def test_kfp_preprocess_component_runs(raw_csv, tmp_path, clip):
    component = load_component(EXAMPLES / "kfp" / "components" / "preprocess.yaml")
    values = {
        "raw_data": str(raw_csv),
        "test_fraction": "0.25",
        "scaling": "standard",
        "seed": "0",
        "train_data": str(tmp_path / "out" / "train"),
        "test_data": str(tmp_path / "out" / "test"),
    }
    if clip is not None:
        values["clip"] = clip
    argv = container_argv(component, values)
    assert ("--clip" in argv) == (clip is not None)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    header, train = read_rows(tmp_path / "out" / "train")
    _, test = read_rows(tmp_path / "out" / "test")
    assert header == ["x1", "x2", "x3", "label"]
    assert (len(train), len(test)) == (150, 50)
    features = [float(v) for row in train for v in row[:-1]]
    if clip is not None:
        assert max(abs(v) for v in features) <= 1.5
    else:
        x1 = [float(row[0]) for row in train]
        assert sum(x1) / len(x1) == pytest.approx(0.0, abs=1e-4)


def test_kfp_python_steps(kfp_steps, raw_csv, tmp_path):
    """train and model-card on the preprocess output (scaling none, as the component would write it)."""
    header, rows = read_rows(raw_csv)
    for name, part in (("train", rows[:150]), ("test", rows[150:])):
        with open(tmp_path / name, "w", newline="") as f:
            csv.writer(f).writerows([header, *part])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        accuracy = kfp_steps.train.func(
            Dataset(str(tmp_path / "train")), Dataset(str(tmp_path / "test")), Model(str(tmp_path / "model")), c=10.0
        )
    assert 0.5 < accuracy <= 1.0
    assert markers(out.getvalue())[0]["accuracy"] == accuracy
    assert f"accuracy={accuracy:.6f}" in out.getvalue()
    card = Markdown(str(tmp_path / "card.md"))
    with contextlib.redirect_stdout(io.StringIO()):
        kfp_steps.model_card.func(card, accuracy=accuracy, c=10.0, gamma=0.5, scaling="none")
    assert "Test accuracy" in Path(card.path).read_text()


def test_kfp_pipeline_wiring():
    pipeline = load_pipeline(EXAMPLES / "kfp" / "pipeline.yaml")
    preprocess = pipeline.step("preprocess")
    assert preprocess.arguments["raw_data"] == "{{steps.generate.outputs.data}}"
    assert preprocess.component.input("raw_data").is_artifact
    assert {o.name for o in preprocess.component.outputs} == {"train_data", "test_data"}
    card = pipeline.step("model-card")
    assert card.when and card.upstream() == {"train"}
    assert pipeline.step("train").retry.limit == 1 and pipeline.step("train").timeout == 300


# --------------------------------------------------------------------------- Python API example


def test_python_api_example_is_importable_and_guarded():
    source = (EXAMPLES / "python_api.py").read_text()
    assert 'if __name__ == "__main__":' in source
    pytest.importorskip("workbench.api")
    module = import_file(EXAMPLES / "python_api.py")  # must not start any experiment
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        loss = module.train_toy_model(lr=0.003, layers=3, optimizer="adam", batch_size=16)
    reported = markers(out.getvalue())
    assert [r["step"] for r in reported] == list(range(1, 11))
    assert reported[-1]["loss"] == pytest.approx(loss)


def test_readme_says_file_collector_trials_have_a_file_each():
    """The regression (docs drift): examples/README said File-collector trials share one file; each step gets its own
    copy of the path its command line names (tests/engine and tests/search test that behaviour)."""
    readme = " ".join((EXAMPLES / "README.md").read_text().split())
    assert "write to the same file" not in readme
    assert "so trials running in parallel never share one" in readme
