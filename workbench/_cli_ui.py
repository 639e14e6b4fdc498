"""``workbench ui``: serve the Streamlit dashboard (``ui/app.py``) on 127.0.0.1:8501 against a workspace.

Registered on the CLI by :func:`register` (one line at the end of ``workbench/cli.py``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

#: The dashboard's entry script (a source checkout or an editable install: ``ui/`` next to the package).
APP = Path(__file__).resolve().parent.parent / "ui" / "app.py"
#: Starts Streamlit's server with the dashboard's fixes applied first (``ui/server.py``).
SERVER = APP.with_name("server.py")


def command(home: Path | None, host: str, port: int, allow_launch: bool) -> list[str]:
    """The ``streamlit run`` command line the ``ui`` command runs (through ``ui/server.py``)."""
    return [
        sys.executable,
        str(SERVER),
        "run",
        str(APP),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        "--global.developmentMode",
        "false",
        "--client.toolbarMode",
        "minimal",
    ]


def register(app: typer.Typer) -> None:
    """Add the ``ui`` command to the ``workbench`` CLI."""

    @app.command("ui")
    def ui(
        home: Path | None = typer.Option(
            None, "--home", help="Workspace folder (default: $WORKBENCH_HOME or ./.workbench)."
        ),
        host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (127.0.0.1: this machine only)."),
        port: int = typer.Option(8501, "--port", help="Port to listen on."),
        allow_launch: bool = typer.Option(
            False, "--allow-launch", help="Allow starting and stopping experiments from the dashboard (off: read-only)."
        ),
    ) -> None:
        """Serve the dashboard (experiments, trials, comparisons, artifacts, lineage) at http://HOST:PORT."""
        from workbench.errors import WorkbenchError

        if not APP.is_file():
            raise WorkbenchError(
                f"the dashboard is not installed here ({APP} is missing): run it from a source checkout"
            )
        workspace = Path(home or os.environ.get("WORKBENCH_HOME") or ".workbench").resolve()
        env = {**os.environ, "WORKBENCH_HOME": str(workspace), "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
        if allow_launch:
            env["WORKBENCH_UI_ALLOW_LAUNCH"] = "1"
        else:
            env.pop("WORKBENCH_UI_ALLOW_LAUNCH", None)
        typer.echo(
            f"Workbench dashboard for {workspace}: http://{host}:{port}"
            + ("  (launch mode)" if allow_launch else "  (read-only)")
        )
        cmd = command(home, host, port, allow_launch)
        sys.stdout.flush()  # exec discards what is still buffered
        # Become the Streamlit server (exec): stopping `workbench ui` (Ctrl-C, SIGTERM) stops the server, with no
        # child process left behind.
        os.execve(cmd[0], cmd, env)
