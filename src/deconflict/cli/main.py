"""The `deconflict` entry point: assembles the typer app from one module per command.

Holds no command logic; a new command is a module with a `register(app)` function, added to
COMMANDS below.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from deconflict import __version__
from deconflict.cli import check, incident, log, party, replay, serve

app = typer.Typer(
    name="deconflict",
    help="Find every spatio-temporal conflict between declared movements, sites and zones.",
    no_args_is_help=True,
    add_completion=False,
    # Commands report their own errors as one sentence; typer's pretty tracebacks would
    # print locals, which may hold declarations the reader is not allowed to see.
    pretty_exceptions_enable=False,
)

COMMANDS: tuple[Callable[[typer.Typer], None], ...] = (
    check.register,
    serve.register,
    party.register,
    log.register,
    replay.register,
    incident.register,
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"deconflict {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the version and exit.",
            callback=_show_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """deconflict: declarations in, conflicts out (see SPEC.md)."""


for register in COMMANDS:
    register(app)


if __name__ == "__main__":
    app(prog_name="deconflict")
