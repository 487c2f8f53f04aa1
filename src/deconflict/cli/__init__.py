"""The `deconflict` command line: typer commands, one module per command.

Commands print and exit; they never hold domain logic, which lives in ingest, engine, export.
"""
