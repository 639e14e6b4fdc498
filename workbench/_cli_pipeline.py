"""``workbench pipeline export``: write a Python (``@workbench.pipeline``) pipeline as YAML.

Added to the ``pipeline`` command group of :mod:`workbench._cli_runs` by :func:`register`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import typer


def pipeline_export(
    ref: str = typer.Argument(..., help="The pipeline function: FILE.py:FUNCTION or MODULE:FUNCTION."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the YAML here (default: stdout)."),
) -> None:
    """Write a @workbench.pipeline function as a Pipeline YAML document (it loads back to the same spec)."""
    from workbench._dsl_pipeline import pipeline_from_ref, to_yaml

    text = to_yaml(pipeline_from_ref(ref))
    if output is None:
        typer.echo(text, nl=False)
        return
    output = output.resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    # Written next to the target and renamed: never a half-written file.
    fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    from workbench import cli

    cli.err_console.print(f"wrote {output}")


def register(app: typer.Typer) -> None:
    """Add ``export`` to the ``pipeline`` group (``app`` is the main app; the group lives in ``_cli_runs``)."""
    from workbench._cli_runs import pipeline_app

    pipeline_app.command("export")(pipeline_export)
