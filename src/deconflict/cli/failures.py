"""How every command reports a failure: one clear line per problem on stderr, an exit code.

Shared by all commands so they fail alike. Never prints a traceback unless asked (--debug),
and never writes to stdout, which belongs to the command's output.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

import typer

from deconflict.errors import DeconflictError, InvalidDeclaration

INTERNAL_ERROR_EXIT = 3
"""A bug, not bad input: distinct from 1 (conflicts found) and 2 (invalid input), so a
script never mistakes a crash for a verdict."""
INTERRUPTED_EXIT = 130
BROKEN_PIPE_EXIT = 141
"""128 + SIGPIPE, what a shell reports for a writer whose reader went away."""


def error_lines(error: DeconflictError) -> list[str]:
    """The lines an error prints: one per offending feature for an invalid file."""
    if isinstance(error, InvalidDeclaration) and error.problems:
        return [str(problem) for problem in error.problems]
    return [error.message]


def silence_stdout() -> None:
    """After the reader of stdout (head, less) went away: point stdout at /dev/null so the
    interpreter's final flush does not print a BrokenPipeError of its own."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def echo_error(line: str) -> None:
    typer.echo(line, err=True)


@contextmanager
def reporting(*, debug: bool) -> Iterator[None]:
    """Turn errors raised in the block into stderr lines and an exit code."""
    try:
        yield
    except typer.Exit:
        raise
    except DeconflictError as error:
        if debug:
            traceback.print_exc()
        for line in error_lines(error):
            echo_error(line)
        raise typer.Exit(error.exit_code) from None
    except KeyboardInterrupt:
        echo_error("interrupted")
        raise typer.Exit(INTERRUPTED_EXIT) from None
    except BrokenPipeError:
        silence_stdout()
        raise typer.Exit(BROKEN_PIPE_EXIT) from None
    except Exception as error:
        if debug:
            traceback.print_exc()
        echo_error(
            f"internal error ({type(error).__name__}: {error}); this is a bug in deconflict, "
            "please report it with the output of --debug"
        )
        raise typer.Exit(INTERNAL_ERROR_EXIT) from None
