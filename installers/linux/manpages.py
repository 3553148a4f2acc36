"""Writes the section-1 man pages of one package's commands, generated from their own parsers.

Run by installers/linux/build-deb with the package's Python:
``python manpages.py dispatch|agent OUT_DIR VERSION``. The hub's Typer app gets a page per
command and group (click-man: ``silent-alarm-dispatch(1)`` lists the commands and names each
one's page, e.g. ``silent-alarm-dispatch-operator-add(1)``); the agent's argparse parser one
page with every subcommand (argparse-manpage).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

SOURCE = "Stiller Alarm"


def build_date() -> str:
    """SOURCE_DATE_EPOCH's day if set (reproducible builds), else today's."""
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", time.time()))
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def dispatch_pages(version: str, date: str) -> dict[str, str]:
    """File name → roff text, for the hub's command and each of its groups and commands."""
    from inspect import cleandoc

    import typer
    from click_man.man import ManPage

    from dispatch.cli import cli

    pages: dict[str, str] = {}

    # click-man's writer, fed by walking Typer's commands here: Typer carries its own copy
    # of click, whose classes click-man's walker (made for click's) does not recognise.
    def walk(command: Any, name: str, parent: typer.Context | None) -> None:
        context = typer.Context(command, info_name=name, parent=parent)
        page = ManPage(context.command_path)
        page.version = version
        page.date = date
        page.short_help = command.get_short_help_str(limit=80)
        page.description = cleandoc(command.help or "")
        page.synopsis = " ".join(command.collect_usage_pieces(context))
        page.options = [
            record
            for param in command.params
            if not getattr(param, "hidden", False) and (record := param.get_help_record(context))
        ]
        subcommands = getattr(command, "commands", {})
        page.commands = [
            (sub_name, sub.get_short_help_str(limit=80)) for sub_name, sub in subcommands.items()
        ]
        pages[context.command_path.replace(" ", "-") + ".1"] = str(page)
        for sub_name, sub in subcommands.items():
            if not sub.hidden:
                walk(sub, sub_name, context)

    walk(typer.main.get_command(cli), "silent-alarm-dispatch", None)
    return pages


def agent_pages(version: str, date: str) -> dict[str, str]:
    """File name → roff text: one page for the agent and all its subcommands."""
    from argparse_manpage.manpage import Manpage

    from agent.cli import _parser

    page = Manpage(
        _parser(),
        _data={
            "project_name": SOURCE,
            "version": version,
            "date": date,
            "manual_title": "Stiller Alarm",
            "description": "Stiller Alarm workstation agent (silent panic button)",
        },
    )
    return {"silent-alarm-agent.1": str(page)}


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in {"dispatch", "agent"}:
        print("usage: manpages.py dispatch|agent OUT_DIR VERSION", file=sys.stderr)
        return 2
    package, out, version = argv
    make = dispatch_pages if package == "dispatch" else agent_pages
    for name, text in make(version, build_date()).items():
        (Path(out) / name).write_text(text, encoding="utf-8")
        print(f"man page {name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
