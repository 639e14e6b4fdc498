"""What ``workbench submit`` and ``schedule create --backend kubernetes`` ship in their ConfigMap: the files the
spec references (code, its local imports, files a command names, the warm-start CSV), never a whole folder."""

from __future__ import annotations

import base64
import json
import textwrap
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from workbench.backends._bundle import local_imports, make_bundle, referenced_files, unpack_bundle
from workbench.cli import app
from workbench.spec import experiment_to_document, load_experiment


def documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def write_project(root: Path) -> Path:
    """An experiment folder with code, helpers it imports, a script a container runs, and unrelated big files."""
    (root / "pkg").mkdir(parents=True)
    (root / "scripts").mkdir()
    (root / "data").mkdir()
    (root / "steps.py").write_text(
        textwrap.dedent("""
        import json
        from workbench import component

        @component
        def train(x: float = 1.0) -> float:
            import helper
            from pkg import util

            return helper.square(x) + util.ONE
    """)
    )
    (root / "helper.py").write_text("from pkg.deep import constant\n\ndef square(x):\n    return x * x\n")
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "util.py").write_text("ONE = 1\n")
    (root / "pkg" / "deep.py").write_text("constant = 2\n")
    (root / "pkg" / "unused.py").write_text("never = 'imported'\n")
    (root / "scripts" / "run.py").write_text("from . import shared\nprint('hi')\n")
    (root / "scripts" / "shared.py").write_text("X = 1\n")
    (root / "scripts" / "__init__.py").write_text("")
    (root / "conf.yaml").write_text("a: 1\n")
    (root / "weights.bin").write_bytes(bytes(range(256)) * 4)
    # Unrelated to the spec: a 2.7 MB data file and notes.
    (root / "data" / "data.csv").write_text("a,b\n" + "1.234567,2.345678\n" * 150_000)
    (root / "notes.txt").write_text("not referenced\n")
    (root / "echo.yaml").write_text(yaml.safe_dump({
        "name": "echo",
        "inputs": [{"name": "x", "type": "Float"}],
        "implementation": {"container": {
            "image": "python:3.11",
            "command": ["python3", "scripts/run.py", "--config=conf.yaml", "--weights", "weights.bin",
                        {"inputValue": "x"}],
        }},
    }))  # fmt: skip
    (root / "pipeline.yaml").write_text(yaml.safe_dump({
        "name": "p",
        "parameters": [{"name": "x", "type": "Float", "default": 1.0}],
        "steps": [
            {"name": "train", "component": "steps.py:train", "arguments": {"x": "{{params.x}}"}},
            {"name": "echo", "component": "echo.yaml", "arguments": {"x": "{{params.x}}"}},
        ],
    }))  # fmt: skip
    (root / "exp.yaml").write_text(yaml.safe_dump({
        "apiVersion": "workbench.io/v1alpha1", "kind": "Experiment", "metadata": {"name": "bundle-demo"},
        "spec": {
            "objective": {"type": "minimize", "objectiveMetricName": "loss"},
            "parameters": [{"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}}],
            "trialTemplate": {"pipeline": "pipeline.yaml"},
        },
    }))  # fmt: skip
    return root / "exp.yaml"


EXPECTED = {"steps.py", "helper.py", "pkg/__init__.py", "pkg/util.py", "pkg/deep.py", "scripts/run.py",
            "scripts/shared.py", "scripts/__init__.py", "conf.yaml", "weights.bin"}  # fmt: skip


def test_only_the_files_the_spec_references_are_shipped(tmp_path):
    exp = write_project(tmp_path / "proj")
    doc = experiment_to_document(load_experiment(exp))
    files, _ = referenced_files(doc)
    root = (tmp_path / "proj").resolve()
    assert {str(p.relative_to(root)) for p in files} == EXPECTED
    assert "imported by helper.py" in files[root / "pkg" / "deep.py"]
    assert "step 'echo'" in files[root / "conf.yaml"]


def test_submit_ships_the_referenced_files_not_the_folders_big_data(tmp_path):
    """The regression: an unrelated 2.7 MB data.csv next to the YAML blocked submit ("exceed 900 KiB")."""
    exp = write_project(tmp_path / "proj")
    result = CliRunner().invoke(app, ["submit", str(exp), "--dry-run", "-n", "ml", "--image", "wb:1"])
    assert result.exit_code == 0, result.output
    config_map, job = documents(result.output)
    root = str((tmp_path / "proj").resolve())
    items = job["spec"]["template"]["spec"]["volumes"][0]["configMap"]["items"]
    paths = {i["path"][len("root" + root) + 1 :] for i in items if i["path"].startswith("root" + root)}
    assert paths == EXPECTED
    by_path = {i["path"]: i["key"] for i in items}
    binary = config_map["binaryData"][by_path[f"root{root}/weights.bin"]]
    assert base64.b64decode(binary) == bytes(range(256)) * 4
    shipped_doc = yaml.safe_load(config_map["data"]["experiment.yaml"])
    base = shipped_doc["spec"]["trialTemplate"]["pipeline"]["baseDir"]
    assert base == f"/workbench/bundles/bundle-demo/root{root}"


def test_unpacked_bundle_lays_out_text_binary_and_working_folders(tmp_path):
    exp = write_project(tmp_path / "proj")
    (tmp_path / "proj" / "weights.bin").unlink()
    (tmp_path / "proj" / "echo.yaml").write_text((tmp_path / "proj" / "echo.yaml").read_text().replace(
        "- --weights\n      - weights.bin\n", ""))  # fmt: skip
    contents, layout = make_bundle(experiment_to_document(load_experiment(exp)), "e", workspace=str(tmp_path / "ws"))
    mount = tmp_path / "mount"
    for item in layout["items"]:
        target = mount / item["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(contents["data"][item["key"]])
    unpack_bundle(mount, tmp_path / "out")
    root = str((tmp_path / "proj").resolve())
    assert (tmp_path / "out" / f"root{root}" / "pkg" / "deep.py").read_text() == "constant = 2\n"
    assert (tmp_path / "out" / f"root{root}").is_dir()
    assert json.loads(contents["data"]["dirs.json"]) == [f"root{root}"]


def test_a_referenced_file_too_big_for_a_config_map_is_named(tmp_path):
    exp = write_project(tmp_path / "proj")
    (tmp_path / "proj" / "conf.yaml").write_text("a: 1\n" * 250_000)
    result = CliRunner().invoke(app, ["submit", str(exp), "--dry-run"])
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "conf.yaml (1.2 MiB, named by the command of step 'echo')" in message, message
    assert "more than the 900 KiB a ConfigMap holds" in message


def test_schedule_on_kubernetes_bundles_only_the_pipelines_files(tmp_path, monkeypatch):
    write_project(tmp_path / "proj")
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(app, ["schedule", "create", "nightly", "--pipeline", str(tmp_path / "proj" /
                                      "pipeline.yaml"), "--cron", "0 2 * * *", "--backend", "kubernetes"])  # fmt: skip
    assert result.exit_code == 0, result.output
    config_map = documents(result.output)[0]
    names = {Path(i["path"]).name for i in
             documents(result.output)[1]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["volumes"][0]
             ["configMap"]["items"]}  # fmt: skip
    assert "data.csv" not in names and "notes.txt" not in names and "helper.py" in names
    assert "pipeline.yaml" in config_map["data"]


def test_local_imports_ignore_libraries_and_unparsable_files(tmp_path):
    (tmp_path / "a.py").write_text("import os, numpy\nfrom collections import OrderedDict\nimport b\n")
    (tmp_path / "b.py").write_text("this is not python (\n")
    assert local_imports(tmp_path / "a.py") == [tmp_path / "b.py"]
    assert local_imports(tmp_path / "b.py") == []
