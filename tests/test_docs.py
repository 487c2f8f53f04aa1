"""Documentation is part of the product: a command, option or limit that exists must be
documented, and the README's quick start must name real commands and files."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import typer

from deconflict.cli.main import app
from deconflict.ingest.limits import Limits

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _commands() -> dict[str, typer.core.TyperCommand]:
    """Every command by its full name, subcommands of groups included ('party add')."""
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    found: dict[str, typer.core.TyperCommand] = {}

    def walk(prefix: str, g: typer.core.TyperGroup) -> None:
        for name, command in g.commands.items():
            full = f"{prefix}{name}"
            if isinstance(command, typer.core.TyperGroup):
                walk(f"{full} ", command)
            else:
                found[full] = command  # type: ignore[assignment]

    walk("", group)
    return found


def test_every_cli_command_and_option_is_documented() -> None:
    text = (DOCS / "cli.md").read_text()
    commands = _commands()
    assert "check" in commands
    for name, command in commands.items():
        assert f"`deconflict {name}" in text, f"command {name!r} is missing from docs/cli.md"
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("--") and opt != "--help":
                    assert f"`{opt}" in text, (
                        f"option {opt} of {name!r} is missing from docs/cli.md"
                    )


def test_every_limit_is_documented() -> None:
    text = (DOCS / "declarations.md").read_text()
    for field in dataclasses.fields(Limits):
        assert f"`{field.name}`" in text, f"limit {field.name} is missing from docs/declarations.md"


def test_readme_quick_start_names_real_commands_and_files() -> None:
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("##", 1)[0]
    assert "make test" in quick
    commands = _commands()
    groups = {name.split()[0] for name in commands}
    for name in re.findall(r"^deconflict (\w+)", quick, flags=re.M):
        assert name in groups, f"README quick start uses unknown command {name!r}"
    for pattern in re.findall(r"(scenarios/[\w*.-]+)", quick):
        assert list(ROOT.glob(pattern)), f"README quick start names missing files {pattern}"


def test_docs_link_to_existing_pages() -> None:
    for page in [ROOT / "README.md", *DOCS.glob("*.md")]:
        for target in re.findall(r"\]\(([\w./-]+\.md)\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"
