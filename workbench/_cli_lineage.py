"""``workbench lineage``: where an artifact came from and where it went, from ML Metadata.

Registered on the CLI by :func:`register` (one line at the end of ``workbench/cli.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer


def _fmt_params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()) or "-"


def _fmt_arts(items: list[dict[str, Any]]) -> str:
    return "\n".join(f"{a['name']}: #{a['artifact_id']} {a['type']}" for a in items) or "-"


def _title(lin: Any) -> str:
    t = lin.target
    if t["kind"] == "artifact":
        what = f"artifact #{t['artifact_id']} {t['type']} {t['name']!r} (step {t['step']}, run {t['run_id'][:12]})"
    elif t["kind"] == "trial":
        what = f"trial {t['trial']} of {t['experiment']} (run {t['run_id'][:12]})"
    else:
        what = f"run {t['run_id']}"
    return f"Lineage of {what}: {lin.direction}, up to {lin.hops} events, via {lin.method}"


def print_lineage(lin: Any) -> None:
    """The executions (producers first) and artifacts of a :class:`workbench.query.Lineage` as tables."""
    from rich.markup import escape
    from rich.table import Table

    from workbench.cli import console

    console.print(f"[bold]{escape(_title(lin))}[/]")
    if lin.target["kind"] == "artifact":
        console.print(f"uri {escape(str(lin.target['uri']))}", highlight=False)
    execs = lin.executions()
    table = Table("execution", "step", "experiment", "trial", "state", "parameters", "inputs", "outputs")
    for e in execs:
        table.add_row(
            f"#{e['execution_id']}",
            escape(e["step"]),
            escape(e["experiment"]),
            "-" if e["trial"] is None else str(e["trial"]),
            escape(e["state"]),
            escape(_fmt_params(e["params"])),
            escape(_fmt_arts(e["inputs"])),
            escape(_fmt_arts(e["outputs"])),
        )
    console.print(table if execs else "no executions")
    arts = Table("artifact", "type", "name", "step", "trial", "state", "uri")
    for a in lin.artifacts():
        arts.add_row(
            f"#{a['artifact_id']}",
            escape(a["type"]),
            escape(str(a["name"])),
            escape(a["step"]),
            "-" if a["trial"] is None else str(a["trial"]),
            escape(a["state"]),
            escape(a["uri"]),
        )
    console.print(arts)


def register(app: typer.Typer) -> None:
    """Add the ``lineage`` command to the ``workbench`` CLI."""

    @app.command("lineage")
    def lineage_cmd(
        target: str = typer.Argument(
            ...,
            metavar="ARTIFACT",
            help="An artifact (ML Metadata id such as 12 or #12, or its uri/path), a trial (EXPERIMENT:NUMBER) "
            "or a run id.",
        ),
        upstream: bool = typer.Option(
            False, "--upstream", help="Only where it came from: the executions, their parameters and inputs."
        ),
        downstream: bool = typer.Option(False, "--downstream", help="Only where it went: the executions that used it."),
        hops: int | None = typer.Option(
            None,
            "--hops",
            min=0,
            help="Events to follow (a step is 2); default 20 for an artifact, 2 around a trial's steps.",
        ),
        as_json: bool = typer.Option(False, "--json", help="Print JSON (executions, artifacts, events)."),
        home: Path | None = typer.Option(
            None, "--home", help="Workspace folder (default: $WORKBENCH_HOME or ./.workbench)."
        ),
    ) -> None:
        """Show the lineage of an artifact (upstream chain and downstream uses) or of a trial (its whole graph)."""
        from workbench.cli import _workspace
        from workbench.query import lineage

        if upstream and downstream:
            raise typer.BadParameter("give --upstream or --downstream, not both (neither: both directions)")
        direction = "upstream" if upstream else "downstream" if downstream else "both"
        lin = lineage(_workspace(home), target, direction=direction, hops=hops)
        if as_json:
            typer.echo(json.dumps(lin.to_dict(), indent=2, default=str))
        else:
            print_lineage(lin)
