"""`deconflict replay TRACKS --declarations FILE`: run the tactical monitor over a track file
offline and print its alert events (SPEC section 5).

Alerts use report times, so a replay gives the alerts a live run would have. Exit 0 no
alert, 1 alerts, 2 invalid input. With --format jsonl, stdout holds one JSON object per
line and nothing else; counts of dropped reports go to stderr.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from deconflict.cli.check import EXIT_CLEAR, EXIT_CONFLICTS, _load_all
from deconflict.cli.failures import echo_error, reporting, silence_stdout
from deconflict.export.alerts import alert_json
from deconflict.export.times import format_time
from deconflict.model import Policy
from deconflict.model.positions import Alert


class ReplayFormat(StrEnum):
    TABLE = "table"
    JSONL = "jsonl"


def register(app: typer.Typer) -> None:
    app.command("replay")(replay)


def replay(
    tracks: Annotated[
        Path,
        typer.Argument(
            metavar="TRACKS",
            help="Track file: CSV (SPEC §5 columns), GPX, GeoJSON or CoT.",
            show_default=False,
        ),
    ],
    declarations: Annotated[
        list[Path],
        typer.Option(
            "--declarations",
            help="Declaration file(s) the units move under (movements, sites, zones, policy).",
            show_default=False,
        ),
    ],
    output: Annotated[
        ReplayFormat,
        typer.Option("--format", help="table: for people; jsonl: one alert event per line."),
    ] = ReplayFormat.TABLE,
    party: Annotated[
        str | None,
        typer.Option(
            "--party",
            help="Party the track file reports for (required for GPX and CoT files).",
            show_default=False,
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    """Replay a track file through the tactical monitor and print every alert event.

    Exit status: 0 no alert, 1 alerts, 2 invalid input.
    """
    from deconflict.engine.monitor import Monitor
    from deconflict.ingest.positions import load_tracks

    with reporting(debug=debug):
        decls = _load_all(declarations, debug=debug)
        track_file = load_tracks(tracks, party=party)
        monitor = Monitor(decls.policy or Policy(), decls.declarations)
        events = monitor.ingest(list(track_file.reports)) + monitor.flush()
        try:
            if output is ReplayFormat.JSONL:
                for a in events:
                    typer.echo(json.dumps(alert_json(a), separators=(",", ":")))
            else:
                _print_table(events)
        except BrokenPipeError:
            silence_stdout()
        dropped = {
            k: v for k, v in monitor.counters.items() if v and k not in ("received", "accepted")
        }
        summary = f"{monitor.counters['accepted']} of {monitor.counters['received']} reports used"
        if dropped:
            summary += "; " + ", ".join(f"{k} {v}" for k, v in dropped.items())
        echo_error(summary)
    raise typer.Exit(EXIT_CONFLICTS if events else EXIT_CLEAR)


def _print_table(events: Sequence[Alert]) -> None:
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=200)
    if not events:
        console.print("No alerts.")
        return
    table = Table(title="Alerts", title_justify="left")
    for name in (
        "time",
        "event",
        "type",
        "units",
        "parties",
        "distance",
        "closest approach",
        "declarations",
    ):
        table.add_column(name, overflow="fold")
    for a in events:
        cpa = ""
        if a.cpa_time_s is not None and a.cpa_distance_m is not None:
            cpa = f"{a.cpa_distance_m:.0f} m at {format_time(round(a.cpa_time_s))}"
        table.add_row(
            format_time(round(a.time_s)),
            a.event.value,
            a.type.value,
            ", ".join(a.units),
            ", ".join(a.parties),
            "" if a.distance_m is None else f"{a.distance_m:.0f} m",
            cpa,
            ", ".join(a.declarations),
        )
    console.print(table)
