"""`python -m deconflict.cli`: the same app as the `deconflict` console script."""

from deconflict.cli.main import app

app(prog_name="deconflict")
