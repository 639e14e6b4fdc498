"""``workbench ui``: the command it runs (127.0.0.1 by default, read-only unless --allow-launch)."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from workbench import _cli_ui
from workbench.cli import app


def test_ui_command_is_registered_with_its_options() -> None:
    result = CliRunner().invoke(app, ["ui", "--help"])
    assert result.exit_code == 0
    for option in ("--port", "--host", "--home", "--allow-launch"):
        assert option in result.output


def test_streamlit_command_line() -> None:
    cmd = _cli_ui.command(None, "127.0.0.1", 8501, False)
    assert cmd[1:3] == [str(_cli_ui.SERVER), "run"] and cmd[3] == str(_cli_ui.APP)  # streamlit run, fixed first
    args = dict(zip(cmd[4::2], cmd[5::2], strict=False))
    assert args["--server.address"] == "127.0.0.1" and args["--server.port"] == "8501"
    assert args["--server.headless"] == "true" and args["--browser.gatherUsageStats"] == "false"
    assert _cli_ui.APP.is_file() and _cli_ui.SERVER.is_file()


def test_ui_passes_the_workspace_and_launch_mode_in_the_environment(monkeypatch, tmp_path) -> None:  # noqa: ANN001
    seen = {}

    def fake_exec(path, cmd, env):  # noqa: ANN001, ANN202
        seen["cmd"], seen["env"] = cmd, env
        assert path == cmd[0]

    monkeypatch.setattr(_cli_ui.os, "execve", fake_exec)
    monkeypatch.setenv("WORKBENCH_UI_ALLOW_LAUNCH", "1")  # never inherited: launch mode is explicit
    result = CliRunner().invoke(app, ["ui", "--home", str(tmp_path), "--port", "9999"])
    assert result.exit_code == 0, result.output
    assert seen["env"]["WORKBENCH_HOME"] == str(tmp_path.resolve())
    assert "WORKBENCH_UI_ALLOW_LAUNCH" not in seen["env"]
    assert "9999" in seen["cmd"] and "127.0.0.1" in seen["cmd"] and "(read-only)" in result.output
    result = CliRunner().invoke(app, ["ui", "--home", str(tmp_path), "--allow-launch", "--host", "0.0.0.0"])
    assert seen["env"]["WORKBENCH_UI_ALLOW_LAUNCH"] == "1" and "0.0.0.0" in seen["cmd"]


def test_register_adds_only_the_ui_command() -> None:
    fresh = typer.Typer()

    @fresh.command()
    def other() -> None:
        """Another command."""

    _cli_ui.register(fresh)
    assert {c.name or c.callback.__name__ for c in fresh.registered_commands} == {"other", "ui"}
