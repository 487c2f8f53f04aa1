"""Options that several commands share, spelt and explained once."""

from __future__ import annotations

from typing import Annotated

import typer

Db = Annotated[str, typer.Option("--db", help="SQLite file, or a postgresql:// URL.")]
Debug = Annotated[bool, typer.Option("--debug", help="Show tracebacks.")]
