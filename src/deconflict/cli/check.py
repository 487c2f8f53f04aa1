"""`deconflict check FILE...`: validate declaration files and print their conflicts (SPEC §7).

Exit 0 no conflicts, 1 conflicts, 2 invalid input. With --format json, stdout holds exactly
one JSON array and nothing else; every diagnostic goes to stderr.
"""

from __future__ import annotations

import math
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from deconflict.cli.failures import echo_error, error_lines, reporting, silence_stdout
from deconflict.errors import DeconflictError
from deconflict.export.conflicts import conflicts_json
from deconflict.export.times import format_time
from deconflict.ingest.geojson import DeclarationSet, load_declarations, merge_sets
from deconflict.model import Conflict, Crossing, Declaration, Policy

_PIPED_WIDTH = 200

EXIT_CLEAR = 0
EXIT_CONFLICTS = 1
EXIT_INVALID = 2


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


def register(app: typer.Typer) -> None:
    app.command("check")(check)


def check(
    files: Annotated[
        list[Path],
        typer.Argument(
            metavar="FILE",
            help="Declaration files (GeoJSON FeatureCollection or Feature), checked together.",
            show_default=False,
        ),
    ],
    output: Annotated[
        OutputFormat,
        typer.Option(
            "--format",
            help="table: for people; json: one JSON array of SPEC §3 conflict objects.",
        ),
    ] = OutputFormat.TABLE,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    """Validate declaration files and print every conflict between them.

    Exit status: 0 no conflicts, 1 conflicts, 2 invalid input.
    """
    with reporting(debug=debug):
        declarations = _load_all(files, debug=debug)
        policy = declarations.policy or Policy()
        conflicts, crossings = find_conflicts(declarations.declarations, policy)
        try:
            if output is OutputFormat.JSON:
                typer.echo(conflicts_json(conflicts))
            else:
                _print_tables(conflicts, crossings, declarations, policy, len(files))
        except BrokenPipeError:
            # `check ... | head` still answers with the verdict: a script must not read
            # "no conflicts" from a truncated listing.
            silence_stdout()
    raise typer.Exit(EXIT_CONFLICTS if conflicts else EXIT_CLEAR)


def find_conflicts(
    declarations: Sequence[Declaration], policy: Policy
) -> tuple[list[Conflict], list[Crossing]]:
    """All conflicts and zone crossings among the declarations, from the engine."""
    # Imported here so that commands which never run the engine start without it.
    from deconflict.engine import Engine

    engine = Engine(policy=policy)
    engine.add_many(declarations)
    return engine.all_conflicts(), engine.all_crossings()


def _load_all(files: Sequence[Path], *, debug: bool) -> DeclarationSet:
    """Every file loaded, then merged; problems of all files reported together."""
    sets: list[DeclarationSet] = []
    failed = False
    for path in files:
        try:
            sets.append(load_declarations(path))
        except DeconflictError as error:
            # Report this file now and go on, so one run names the problems of every file.
            if debug:
                traceback.print_exc()
            for line in error_lines(error):
                echo_error(line)
            failed = True
    if failed:
        raise typer.Exit(EXIT_INVALID)
    return merge_sets(sets)


def _print_tables(
    conflicts: list[Conflict],
    crossings: list[Crossing],
    declarations: DeclarationSet,
    policy: Policy,
    file_count: int,
) -> None:
    console = Console(highlight=False)
    if not console.is_terminal:
        # Piped into a file or a log: 80 columns would fold every id; nobody reads it narrow.
        console = Console(highlight=False, width=_PIPED_WIDTH)
    if conflicts:
        table = Table(title="Conflicts", title_justify="left")
        for name in ("a", "party_a", "b", "party_b"):
            table.add_column(name, overflow="fold")
        table.add_column("start", no_wrap=True)
        table.add_column("end", no_wrap=True)
        table.add_column("min distance", justify="right", no_wrap=True)
        table.add_column("at (lon, lat)", no_wrap=True)
        # Whole seconds and ~1 m positions: the table is for reading, --format json is exact.
        for c in conflicts:
            _add_row(
                table,
                c.a,
                c.party_a,
                c.b,
                c.party_b,
                _second(c.start_s, math.floor),
                _second(c.end_s, math.ceil),
                f"{c.min_distance_m:,.2f} m",
                f"{c.at[0]:.5f}, {c.at[1]:.5f}",
            )
        console.print(table)
    if crossings:
        table = Table(title="Zone crossings (reported, not conflicts)", title_justify="left")
        for name in ("zone", "zone_party", "zone_type", "movement", "movement_party"):
            table.add_column(name, overflow="fold")
        table.add_column("start", no_wrap=True)
        table.add_column("end", no_wrap=True)
        for x in crossings:
            _add_row(
                table,
                x.zone,
                x.zone_party,
                str(x.zone_type),
                x.movement,
                x.movement_party,
                _second(x.start_s, math.floor),
                _second(x.end_s, math.ceil),
            )
        console.print(table)
    summary = _summary(conflicts, crossings, declarations.declarations, policy, file_count)
    console.print(summary, markup=False)


def _add_row(table: Table, *cells: str) -> None:
    # Text, not str: ids are user input, and rich would read "[/x]" in one as markup.
    table.add_row(*(Text(cell) for cell in cells))


def _summary(
    conflicts: list[Conflict],
    crossings: list[Crossing],
    declarations: Sequence[Declaration],
    policy: Policy,
    file_count: int,
) -> str:
    kinds = Counter(str(d.kind) for d in declarations)
    among = ", ".join(_plural(kinds[k], k) for k in ("movement", "site", "zone") if kinds[k])
    found = _plural(len(conflicts), "conflict") if conflicts else "No conflicts"
    if crossings:
        found += f" and {_plural(len(crossings), 'zone crossing')}"
    return (
        f"{found} among {_plural(len(declarations), 'declaration')}"
        f"{f' ({among})' if among else ''} from {_plural(file_count, 'file')}; "
        f"separation {policy.horizontal_m:g} m horizontal, {policy.vertical_m:g} m vertical."
    )


def _second(epoch_s: float, to_whole: Callable[[float], int]) -> str:
    """A time to the whole second for a table, widened outward (start down, end up) so the
    interval shown never looks shorter than the conflict; JSON keeps the milliseconds."""
    return format_time(to_whole(epoch_s)) if math.isfinite(epoch_s) else "open"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
