"""Object-store artifacts on the Kubernetes backend: steps pass artifacts through S3 (a moto server).

The kubelet stand-in runs each pod's command as a local process, so every path would be visible to
every pod; the step runtime's wrapper stages a pod's artifacts in its own temporary folder instead,
so what a step reads can only have come through the object store.
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("boto3")
pytest.importorskip("moto")

from k8s_helpers import launch, settings, validate, wait_for  # noqa: E402

from workbench.backends import StepLaunchError  # noqa: E402
from workbench.backends._k8s_pod import PodConfig  # noqa: E402
from workbench.backends.kubernetes import KubernetesBackend, KubernetesSettings, pod_manifest  # noqa: E402
from workbench.engine.cache import content_digest  # noqa: E402
from workbench.engine.run import PipelineRunner, RunContext  # noqa: E402
from workbench.errors import SpecError  # noqa: E402
from workbench.runtime.objstore import META_DIGEST, STORE_ERROR_EXIT  # noqa: E402
from workbench.spec import Pipeline  # noqa: E402
from workbench.testing.k8s_server import FakeCluster  # noqa: E402
from workbench.testing.s3_server import TEST_CREDENTIALS, S3Server  # noqa: E402
from workbench.workspace import Workspace  # noqa: E402

BUCKET = "wb-artifacts"
SECRET = "workbench-s3"
IMAGE = "docker.io/library/python:3.11-slim"


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with S3Server() as server:
        server.create_bucket(BUCKET)
        yield server


@pytest.fixture(autouse=True)
def _controller_credentials(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """The controller's own credentials (the pods get theirs from the Secret only)."""
    for var in ("WORKBENCH_HOME", "WORKBENCH_ARTIFACTS", "WORKBENCH_K8S_ARTIFACT_STORE", "WORKBENCH_S3_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    for key, value in TEST_CREDENTIALS.items():
        monkeypatch.setenv(key, value)


def add_secret(cluster: FakeCluster, name: str = SECRET) -> None:
    cluster.create("secrets", "default", {"metadata": {"name": name}, "stringData": dict(TEST_CREDENTIALS)})


def s3_backend(cluster: FakeCluster, s3: S3Server, home: Path, prefix: str, **extra: Any) -> KubernetesBackend:
    values: dict[str, Any] = dict(
        artifact_store=f"s3://{BUCKET}/{prefix}", artifact_store_endpoint=s3.url, artifact_store_secret=SECRET,
        artifact_root=str(Workspace.at(home).artifacts),
    )  # fmt: skip
    values.update(extra)
    return KubernetesBackend(settings(cluster, home, **values))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def py_component(name: str, code: str, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]],
                 args: list[Any]) -> dict[str, Any]:  # fmt: skip
    return {"name": name, "inputs": inputs, "outputs": outputs,
            "implementation": {"container": {"image": IMAGE, "command": ["python3", "-c", code, *args]}}}  # fmt: skip


MAKE = """
import pathlib, sys
out = pathlib.Path(sys.argv[2])
out.mkdir(parents=True)
(out / "rows.csv").write_text("\\n".join(str(i * float(sys.argv[1])) for i in range(5)))
(out / "meta").mkdir()
(out / "meta" / "source.txt").write_text("made in a pod")
"""
SCORE = """
import pathlib, sys, tempfile
table, note, loss_path = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
print("read-from", table.as_posix().startswith(tempfile.gettempdir() + "/workbench-stage-"))
rows = [float(v) for v in (table / "rows.csv").read_text().split()]
loss = sum(rows) + len(note.read_text())
print(f"loss={loss}")
loss_path.write_text(str(loss))
"""


def two_steps(x: float = 2.0, fail_score: bool = False) -> Pipeline:
    make = py_component("make", MAKE, [{"name": "x", "type": "Float"}], [{"name": "table", "type": "Dataset"}],
                        [{"inputValue": "x"}, {"outputPath": "table"}])  # fmt: skip
    score_code = SCORE + ("\nsys.exit(3)\n" if fail_score else "")
    score = py_component("score", score_code,
                         [{"name": "table", "type": "Dataset"}, {"name": "note", "type": "String"}],
                         [{"name": "loss", "type": "Float"}],
                         [{"inputPath": "table"}, {"inputPath": "note"}, {"outputPath": "loss"}])  # fmt: skip
    return Pipeline.model_validate({
        "name": "s3-pipeline",
        "parameters": [{"name": "x", "type": "Float", "default": x}],
        "steps": [
            {"name": "make", "component": make, "arguments": {"x": "{{params.x}}"}},
            {"name": "score", "component": score,
             "arguments": {"table": "{{steps.make.outputs.table}}", "note": "four"}},
        ],
    })  # fmt: skip


def run_pipeline(kube: KubernetesBackend, home: Path, pipeline: Pipeline) -> Any:
    runner = PipelineRunner(kube, Workspace.at(home), metric_names=["loss"], grace_period=2.0)
    return runner.run(pipeline, {}, RunContext(experiment="s3exp", run_id=uuid.uuid4().hex))


def step_log(result: Any, step: str) -> str:
    return Path(result.steps[step].log_path).read_text()


# ------------------------------------------------------------------------------------------------ pipelines


def test_steps_pass_artifacts_through_the_object_store(cluster, s3, tmp_path):
    add_secret(cluster)
    home = tmp_path / "home"
    kube = s3_backend(cluster, s3, home, "pipe")
    try:
        result = run_pipeline(kube, home, two_steps(x=2.0))
    finally:
        kube.close()
    assert result.state == "Succeeded", (result.message, step_log(result, "make"), step_log(result, "score"))
    assert result.collector.final("loss", "latest") == pytest.approx(20.0 + 4)
    assert "read-from True" in step_log(result, "score")  # the pod read its staged copy, not the controller's

    run = result.run_id
    keys = s3.keys(BUCKET, "pipe/")
    assert f"pipe/s3exp/{run}/make/table" in keys  # the folder's manifest
    assert f"pipe/s3exp/{run}/make/table/rows.csv" in keys and f"pipe/s3exp/{run}/make/table/meta/source.txt" in keys
    assert f"pipe/s3exp/{run}/score/loss" in keys
    assert any(k.startswith(f"pipe/.inputs/{run}/score/1/") for k in keys)  # the value given as a path

    # The controller's folder mirrors the store; digests agree (the step cache's digest is in the metadata).
    for step, out in (("make", "table"), ("score", "loss")):
        local = result.steps[step].outputs[out]
        assert local == str(Workspace.at(home).artifacts / "s3exp" / run / step / out)
        assert s3.metadata(BUCKET, f"pipe/s3exp/{run}/{step}/{out}")[META_DIGEST] == content_digest(local)
        assert kube.artifact_uri(local) == f"s3://{BUCKET}/pipe/s3exp/{run}/{step}/{out}"

    pods = cluster.created
    assert len(pods) == 2
    for pod in pods:
        main = pod["spec"]["containers"][0]
        assert main["command"][:3] == ["python", "-m", "workbench.runtime.objstore"]
        assert not any("persistentVolumeClaim" in v for v in pod["spec"].get("volumes", []))
        refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in main["env"] if "valueFrom" in e}
        assert refs == {k: {"name": SECRET, "key": k} for k in TEST_CREDENTIALS}
        assert TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"] not in json.dumps(pod)
    wait_for(lambda: not cluster.pods(), 10, "every pod to be deleted")


def test_a_failed_step_keeps_its_exit_code_and_uploads_what_it_wrote(cluster, s3, tmp_path):
    add_secret(cluster)
    home = tmp_path / "home"
    kube = s3_backend(cluster, s3, home, "fail")
    try:
        result = run_pipeline(kube, home, two_steps(fail_score=True))
    finally:
        kube.close()
    assert result.state == "Failed"
    assert result.steps["score"].exit_code == 3 and result.steps["score"].message.startswith("exited with code 3")
    assert f"fail/s3exp/{result.run_id}/score/loss" in s3.keys(BUCKET, "fail/")  # written before the exit


def test_a_missing_bucket_or_a_dead_endpoint_fails_before_any_pod(cluster, s3, tmp_path):
    add_secret(cluster)
    home = tmp_path / "home"
    for extra, expected in (
        ({"artifact_store": "s3://no-such-bucket/p"}, "bucket 'no-such-bucket' does not exist"),
        ({"artifact_store_endpoint": f"http://127.0.0.1:{free_port()}"}, "cannot reach the object store"),
    ):
        kube = s3_backend(cluster, s3, home, "x", **extra)
        try:
            with pytest.raises(StepLaunchError, match=expected):
                kube.preflight(launch(["true"], tmp_path))
            result = run_pipeline(kube, home, two_steps())
        finally:
            kube.close()
        assert result.state == "Failed"
        assert expected in result.steps["make"].message and "artifact store s3://" in result.steps["make"].message
        assert result.steps["score"].state == "Cancelled"
    assert cluster.created == []


def test_a_missing_credentials_secret_fails_the_step_at_once(cluster, s3, tmp_path):
    home = tmp_path / "home"
    kube = s3_backend(cluster, s3, home, "nosecret")
    try:
        result = run_pipeline(kube, home, two_steps())
    finally:
        kube.close()
    assert result.state == "Failed"
    message = result.steps["make"].message
    assert "CreateContainerConfigError" in message and f'secret "{SECRET}" not found' in message
    wait_for(lambda: not cluster.pods(), 10, "the pod to be deleted")


def test_an_output_the_controller_cannot_fetch_fails_the_step_with_the_reason(cluster, s3, tmp_path):
    """The pod uploaded its output, but the controller's own credentials are wrong."""
    add_secret(cluster)
    home = tmp_path / "home"
    kube = s3_backend(cluster, s3, home, "fetch")
    real = kube.store.download

    def refuse(uri: str, path: Any, verify: bool = True) -> Any:
        from workbench.runtime.objstore import ObjectStoreError

        raise ObjectStoreError(f"access to {uri} denied (AccessDenied): check the credentials and the bucket policy")

    kube.store.download = refuse  # the controller's side only: the pod's wrapper is a separate process
    try:
        result = run_pipeline(kube, home, two_steps())
    finally:
        kube.store.download = real
        kube.close()
    step = result.steps["make"]
    assert step.state == "Failed" and step.exit_code == STORE_ERROR_EXIT
    assert "cannot fetch output s3://" in step_log(result, "make") and "AccessDenied" in step.message


# ------------------------------------------------------------------------------------------------ pods


def test_object_store_pods_are_valid_and_hold_no_secret(tmp_path):
    cfg = KubernetesSettings(artifact_store="s3://bucket/p", artifact_store_endpoint="http://minio:9000",
                             artifact_store_secret=SECRET, artifact_root="/ws/artifacts", mount_path="/ws",
                             artifact_store_env={"AWS_DEFAULT_REGION": "eu-west-1"})  # fmt: skip
    step = launch(["python3", "train.py", "--data=/data/x", "/ws/artifacts/e/r/load/data", "/ws/artifacts/e/r/t/m"],
                  tmp_path, outputs={"model": "/ws/artifacts/e/r/t/m"},
                  input_paths=["/ws/artifacts/e/r/load/data"])  # fmt: skip
    pod = pod_manifest(step, cfg)
    validate(pod)
    main = pod["spec"]["containers"][0]
    assert main["command"] == [
        "python", "-m", "workbench.runtime.objstore",
        "--in", "/ws/artifacts/e/r/load/data=s3://bucket/p/e/r/load/data",
        "--out", "/ws/artifacts/e/r/t/m=s3://bucket/p/e/r/t/m",
        "--", "python3", "train.py", "--data=/data/x", "/ws/artifacts/e/r/load/data", "/ws/artifacts/e/r/t/m",
    ]  # fmt: skip
    env = {e["name"]: e.get("value") for e in main["env"]}
    assert env["WORKBENCH_S3_ENDPOINT_URL"] == "http://minio:9000" and env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["AWS_SECRET_ACCESS_KEY"] is None  # a secretKeyRef, never a value
    assert {"name": "workbench-staging", "mountPath": "/tmp"} in main["volumeMounts"]
    assert "workingDir" not in main  # the controller's folders do not exist in the pod

    # A step with nothing to move runs unwrapped; one given only args (for the image's entrypoint) is refused.
    plain = pod_manifest(launch(["echo", "hi"], tmp_path), cfg)
    assert plain["spec"]["containers"][0]["command"] == ["echo", "hi"]
    with pytest.raises(SpecError, match="must give its command"):
        pod_manifest(launch(["--epochs", "3"], tmp_path, outputs={"m": "/ws/artifacts/m"}, entrypoint_args=True), cfg)


# ------------------------------------------------------------------------------------------------ settings


def write_settings(home: Path, text: str) -> Workspace:
    home.mkdir(parents=True, exist_ok=True)
    (home / "workbench.toml").write_text(text)
    return Workspace.at(home)


def test_object_store_settings_from_the_file_and_the_environment(tmp_path, monkeypatch):
    ws = write_settings(tmp_path / "a", '[kubernetes]\nartifactStore = "s3://models/team"\n'
                        'artifactStoreSecret = "creds"\nartifactStoreEndpoint = "http://minio:9000"\n')  # fmt: skip
    loaded = KubernetesSettings.load(ws)
    assert (loaded.artifact_store, loaded.artifact_store_secret, loaded.artifact_store_endpoint) == (
        "s3://models/team", "creds", "http://minio:9000")  # fmt: skip
    assert loaded.artifact_root == str(ws.artifacts)
    monkeypatch.setenv("WORKBENCH_S3_ENDPOINT_URL", "http://other:9000")
    assert KubernetesSettings.load(ws).artifact_store_endpoint == "http://other:9000"

    top = write_settings(tmp_path / "b", 'artifacts = "s3://models/top"\n')
    assert KubernetesSettings.load(top).artifact_store == "s3://models/top"
    # The controller's own copy of the artifacts stays a folder of the workspace.
    assert top.artifacts == (tmp_path / "b").resolve() / "artifacts"
    assert KubernetesSettings.load(top).artifact_root == str(top.artifacts)

    bad = write_settings(tmp_path / "c", '[kubernetes]\nartifactStore = "s3://Bad_Bucket/x"\n')
    with pytest.raises(SpecError, match=r"kubernetes.artifactStore: invalid bucket name 'Bad_Bucket'"):
        KubernetesSettings.load(bad)
    leaky = write_settings(tmp_path / "d", '[kubernetes]\nartifactStore = "s3://models/x"\n'
                           '[kubernetes.artifactStoreEnv]\nAWS_SECRET_ACCESS_KEY = "oops"\n')  # fmt: skip
    with pytest.raises(SpecError, match=r"artifactStoreEnv.AWS_SECRET_ACCESS_KEY: .* put it in a Secret"):
        KubernetesSettings.load(leaky)


def test_pod_settings_have_one_definition(tmp_path):
    """Every pod setting is a PodConfig field, set from the settings file under its camelCase name."""
    from dataclasses import fields

    pod_fields = [f.name for f in fields(PodConfig)]
    own = [f.name for f in fields(KubernetesSettings) if f.name not in pod_fields]
    assert not set(own) & set(pod_fields)
    assert "unschedulable_timeout" in own and "host" in own  # backend behaviour, not pod shape
    values = {
        "namespace": "ml", "image": "reg/wb:1", "imagePullPolicy": "Always", "volumeClaim": "claim",
        "mountPath": "/w", "serviceAccount": "sa", "envFromSecrets": ["stores"], "deadlineSlack": "2m",
        "defaultResources": {"requests": {"cpu": "1"}}, "artifactStore": "s3://bkt/p",
        "artifactStoreEnv": {"AWS_DEFAULT_REGION": "x"}, "artifactStoreEndpoint": "http://m:9000",
        "artifactStoreSecret": "s", "artifactRoot": "/w/artifacts",
    }  # fmt: skip
    ws = write_settings(tmp_path / "h", "[kubernetes]\n" + "".join(
        f"{k} = {json.dumps(v)}\n" for k, v in values.items() if not isinstance(v, dict)) + "".join(
        f"[kubernetes.{k}]\n" + "".join(f"{kk} = {json.dumps(vv)}\n" for kk, vv in v.items())
        for k, v in values.items() if isinstance(v, dict) and k != "defaultResources"))  # fmt: skip
    cfg = KubernetesSettings.load(ws, default_resources={"requests": {"cpu": "1"}}).pod_config()
    assert type(cfg) is PodConfig
    assert cfg == PodConfig(
        namespace="ml", image="reg/wb:1", image_pull_policy="Always", volume_claim="claim", mount_path="/w",
        service_account="sa", env_from_secrets=["stores"], deadline_slack=120.0,
        default_resources={"requests": {"cpu": "1"}}, artifact_store="s3://bkt/p",
        artifact_store_env={"AWS_DEFAULT_REGION": "x"}, artifact_store_endpoint="http://m:9000",
        artifact_store_secret="s", artifact_root="/w/artifacts",
    )  # fmt: skip
    assert [f.name for f in fields(PodConfig)] == [f.name for f in fields(KubernetesSettings)][: len(pod_fields)]


# ------------------------------------------------------------------------------------------------ experiments


@pytest.mark.slow
def test_an_experiment_of_python_components_matches_the_local_backend(s3, tmp_path):
    """sklearn-classifier (load -> train -> evaluate, Dataset and Model artifacts) on pods with S3 vs locally."""
    import optuna

    from workbench.backends import LocalBackend
    from workbench.search import _storage as st
    from workbench.search.controller import Controller, trial_state
    from workbench.spec import experiment_from_dict
    from workbench.tracking import MlmdRecorder, lineage_of_run
    from workbench.tracking._base import BaseRecorder

    repo = Path(__file__).resolve().parents[2]
    doc = {
        "name": "s3-sklearn",
        "objective": {"type": "maximize", "objectiveMetricName": "accuracy",
                      "metricStrategies": [{"name": "accuracy", "value": "latest"}]},
        "algorithm": {"algorithmName": "random", "algorithmSettings": [{"name": "random_state", "value": "5"}]},
        "parallelTrialCount": 1, "maxTrialCount": 2,
        "parameters": [{"name": "alpha", "parameterType": "double",
                        "feasibleSpace": {"min": "0.0001", "max": "0.01"}}],
        "trialTemplate": {"template": "sklearn-classifier", "arguments": {"dataset": "iris", "epochs": 3}},
    }  # fmt: skip

    def run(kind: str) -> tuple[list[Any], Workspace, FakeCluster | None]:
        ws = Workspace.at(tmp_path / kind)
        spec = experiment_from_dict(json.loads(json.dumps(doc)), repo)
        cluster = None
        if kind == "local":
            b: Any = LocalBackend()
        else:
            cluster = FakeCluster(default_workdir=str(tmp_path), validate=True).start()
            add_secret(cluster)
            b = s3_backend(cluster, s3, ws.home, "exp")
        try:
            recorder = BaseRecorder() if kind == "local" else MlmdRecorder(ws.mlmd_url)
            Controller(spec, ws, backend=b, recorder=recorder, grace_period=2.0).run()
            study = optuna.load_study(study_name=spec.name, storage=st.open_storage(ws.optuna_url))
            trials = [(t.number, trial_state(t), t.params, t.values) for t in study.get_trials()]
            run_ids.extend(str(t.user_attrs[st.T_RUN_ID]) for t in study.get_trials())
            if cluster is not None:
                wait_for(lambda: not cluster.pods(), 10, "every pod to be deleted")
                assert not cluster.invalid, cluster.invalid
            return trials, ws, cluster
        finally:
            if cluster is not None:
                b.close()
                cluster.stop()

    run_ids: list[str] = []
    local, _, _ = run("local")
    run_ids.clear()
    kube, ws, cluster = run("kubernetes")
    assert [t[1] for t in local] == ["Succeeded", "Succeeded"]
    for a, b in zip(local, kube, strict=True):
        assert a[:3] == b[:3] and a[3] == pytest.approx(b[3])
    # 3 steps x 2 trials, but the second trial's `load` (same inputs) is a cache hit: its outputs are
    # found through ML Metadata and checked against the controller's copies, so no pod runs for it.
    assert cluster is not None and len(cluster.created) == 5
    assert all(p["spec"]["containers"][0]["command"][:3] == ["python", "-m", "workbench.runtime.objstore"]
               for p in cluster.created)  # fmt: skip
    keys = s3.keys(BUCKET, "exp/s3-sklearn/")
    for step, output in (("load", "data"), ("train", "model"), ("evaluate", "metrics")):
        produced = [k for k in keys if k.endswith(f"/{step}/{output}")]
        assert len(produced) == (1 if step == "load" else 2), (step, output, keys)
        for key in produced:
            local_copy = ws.artifacts / key[len("exp/"):]
            assert s3.metadata(BUCKET, key)["workbench-sha256"] == content_digest(str(local_copy))
    # Lineage names the object-store URIs, and train's input is the very artifact load wrote.
    for run_id in run_ids:
        lineage = lineage_of_run(ws.mlmd_url, run_id)
        files = {a["id"]: a for a in lineage["artifacts"] if a["type"] in ("Dataset", "Model", "Metrics")}
        assert files and all(a["uri"].startswith(f"s3://{BUCKET}/exp/s3-sklearn/") for a in files.values())
        assert all(Path(a["custom_properties"]["local_path"]).exists() for a in files.values())
        by_step = {e["step"]: e for e in lineage["executions"]}
        assert by_step["train"]["input_artifacts"]["data"] == by_step["load"]["output_artifacts"]["data"]


def test_submit_passes_the_object_store_to_the_controller_job(tmp_path):
    import yaml
    from typer.testing import CliRunner

    from workbench.cli import app

    repo = Path(__file__).resolve().parents[2]
    write_settings(tmp_path / "home", 'artifacts = "s3://workbench-artifacts/team"\n[kubernetes]\n'
                   'artifactStoreSecret = "workbench-stores"\n'
                   'artifactStoreEndpoint = "http://minio:9000"\n')  # fmt: skip
    result = CliRunner().invoke(app, ["submit", str(repo / "examples" / "kfp" / "experiment.yaml"), "--dry-run",
                                      "-n", "ml", "--home", str(tmp_path / "home")])  # fmt: skip
    assert result.exit_code == 0, result.output
    job = [d for d in yaml.safe_load_all(result.output) if d and d["kind"] == "Job"][0]
    validate(job)
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    values = {e["name"]: e.get("value") for e in env}
    assert values["WORKBENCH_K8S_ARTIFACT_STORE"] == "s3://workbench-artifacts/team"
    assert values["WORKBENCH_K8S_ARTIFACT_STORE_SECRET"] == "workbench-stores"
    assert values["WORKBENCH_S3_ENDPOINT_URL"] == "http://minio:9000"
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in env if "valueFrom" in e}
    assert refs["AWS_ACCESS_KEY_ID"] == refs["AWS_SECRET_ACCESS_KEY"] == "workbench-stores"
