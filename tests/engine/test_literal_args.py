"""Parameter values that look like shell syntax reach a step as exact, literal values: no shell anywhere.

Hypothesis generates values built from shell metacharacters (``$(...)``, backticks, ``;``, ``&&``,
``|``, quotes, globs, newlines, ``~``) around a command that would create a marker file. Each
example runs a real pipeline: a command step (a process, its argv) and a Python-function step
(forked by the fork server, its function arguments). Both must see exactly the values given, and
the marker file that a shell would have created must never exist.
``WORKBENCH_LITERAL_EXAMPLES`` sets the examples (default 25, each one pipeline run of two steps).
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.backends import LocalBackend, _forkserver
from workbench.engine import PipelineRunner, RunContext
from workbench.spec import pipeline_from_dict
from workbench.workspace import Workspace

EXAMPLES = int(os.environ.get("WORKBENCH_LITERAL_EXAMPLES", "25"))
SLOTS = 6  # values per example (one pipeline run)

STEPS_PY = '''
import json
import os


def record(v0: str, v1: str, v2: str, v3: str, v4: str, v5: str, dump: str) -> None:
    """Write the values this function was called with, and who forked it."""
    with open(dump, "w", encoding="utf-8") as fh:
        json.dump({"values": [v0, v1, v2, v3, v4, v5], "ppid": os.getppid()}, fh)
'''

DUMP_ARGV = "import json, sys; json.dump(sys.argv[1:], open(sys.argv[1], 'w', encoding='utf-8'))"


def shellish(marker: Path) -> st.SearchStrategy[str]:
    """Text a shell would act on: each piece tries to create ``marker`` or to split the word."""
    m = str(marker)
    attacks = [
        f"$(touch {m})",
        f"`touch {m}`",
        f"; touch {m}",
        f"&& touch {m}",
        f"| touch {m}",
        f"\n touch {m}",
        f"$(rm -rf {m}.nothing)",
        "; ls",
        "'",
        '"',
        "\\",
        "$HOME",
        "${PATH}",
        "*",
        "~",
        "> /dev/null",
        "2>&1",
        "%s%n",
        "{{params.x}}",
        "-rf",
        "--help",
        " ",
        "",
    ]
    # Any text but NUL and lone surrogates, which no command line can carry (see the test below).
    free = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=8)
    piece = st.one_of(st.sampled_from(attacks), free)
    return st.lists(piece, min_size=1, max_size=5).map("".join)


def ref(param: str) -> str:
    return "{{params." + param + "}}"


def pipeline_doc(steps_py: Path) -> dict:
    names = [f"v{i}" for i in range(SLOTS)]
    command_step = {
        "name": "command",
        "component": {
            "name": "argv-dump",
            "inputs": [{"name": "dump"}] + [{"name": n} for n in names],
            "implementation": {
                "container": {
                    "command": [sys.executable, "-c", DUMP_ARGV, {"inputValue": "dump"}]
                    + [{"inputValue": n} for n in names]
                }
            },
        },
        "arguments": {"dump": "{{params.argv_dump}}", **{n: ref(n) for n in names}},
    }
    function_step = {
        "name": "function",
        "component": f"{steps_py.name}:record",
        "arguments": {"dump": "{{params.fn_dump}}", **{n: ref(n) for n in names}},
    }
    params = [{"name": n, "type": "String"} for n in [*names, "argv_dump", "fn_dump"]]
    return {"name": "literal", "parameters": params, "steps": [command_step, function_step]}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PipelineRunner, object]:
    root = tmp_path_factory.mktemp("literal")
    steps_py = root / "steps.py"
    steps_py.write_text(textwrap.dedent(STEPS_PY), encoding="utf-8")
    pipeline = pipeline_from_dict(pipeline_doc(steps_py), root)
    runner = PipelineRunner(LocalBackend(fork=True), Workspace.at(root / "ws"), grace_period=0.5)
    return root, runner, pipeline


@pytest.mark.slow
@settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_shell_looking_values_arrive_literally(setup: tuple[Path, PipelineRunner, object], data: st.DataObject) -> None:
    root, runner, pipeline = setup
    marker = root / "pwned"
    values = data.draw(st.lists(shellish(marker), min_size=SLOTS, max_size=SLOTS), label="values")
    argv_dump, fn_dump = root / "argv.json", root / "fn.json"
    argv_dump.unlink(missing_ok=True)
    fn_dump.unlink(missing_ok=True)
    args = {**{f"v{i}": v for i, v in enumerate(values)}, "argv_dump": str(argv_dump), "fn_dump": str(fn_dump)}
    result = runner.run(pipeline, args, RunContext(experiment="literal", run_id=os.urandom(6).hex()))
    assert result.state == "Succeeded", result.message
    assert json.loads(argv_dump.read_text(encoding="utf-8")) == [str(argv_dump), *values]
    called = json.loads(fn_dump.read_text(encoding="utf-8"))
    assert called["values"] == values
    # Forked by the fork server, not started by this process (the Python-function launch path).
    assert called["ppid"] == _forkserver.server().proc.pid
    assert not marker.exists(), "a shell interpreted a parameter value"


@pytest.mark.parametrize(("value", "problem"), [("a\x00b", "a NUL byte"), ("\ud800", "a lone surrogate")])
def test_a_value_no_argv_can_carry_fails_the_step_clearly(tmp_path: Path, value: str, problem: str) -> None:
    """The command step fails naming the argument and why (not "internal error"); the function step gets it."""
    (tmp_path / "steps.py").write_text(textwrap.dedent(STEPS_PY), encoding="utf-8")
    pipeline = pipeline_from_dict(pipeline_doc(tmp_path / "steps.py"), tmp_path)
    runner = PipelineRunner(LocalBackend(fork=True), Workspace.at(tmp_path / "ws"), grace_period=0.5)
    args = {f"v{i}": "x" for i in range(SLOTS)} | {"v0": value}
    args |= {"argv_dump": str(tmp_path / "argv.json"), "fn_dump": str(tmp_path / "fn.json")}
    result = runner.run(pipeline, args, RunContext(experiment="literal", run_id="nul"))
    assert result.state == "Failed"
    message = result.steps["command"].message
    assert f"argument 4 holds {problem}" in message and "internal error" not in message  # argv[4] is v0
    assert json.loads((tmp_path / "fn.json").read_text(encoding="utf-8"))["values"][0] == value
