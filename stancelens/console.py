"""How every ``stancelens`` command reports a usage error: a red line on stderr and exit code 2."""

from __future__ import annotations

import typer


def fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)
