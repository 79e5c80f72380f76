"""The README's command table against the CLI's own parser: every command it lists exists, every flag it shows is
one that command accepts, every command the CLI has is listed, and a row lists all its command's flags unless it
ends in [OPTIONS] (so the table and `distilbo --help` cannot drift apart).

Run: python -m pytest tests/test_readme_commands.py -q
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from distilbo.cli import build_parser

README = Path(__file__).resolve().parent.parent / "README.md"


def _table_rows() -> dict[str, str]:
    """command -> its usage cell, from the README's rows that start with | `distilbo COMMAND ..."""
    rows = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        m = re.match(r"\| `distilbo (\w+)([^`]*)` \|", line)
        if m:
            rows[m.group(1)] = m.group(2)
    return rows


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_the_readme_command_table_matches_the_cli():
    rows, commands = _table_rows(), _subparsers(build_parser())
    assert len(rows) >= 10, "the README's command table was not found"
    assert sorted(rows) == sorted(commands), "commands in the README table vs in `distilbo --help`"
    for name, usage in rows.items():
        accepted = {s for a in commands[name]._actions for s in a.option_strings}
        shown = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", usage))
        assert shown <= accepted, f"distilbo {name}: the README shows {sorted(shown - accepted)}, not accepted"
        if "[OPTIONS]" in usage:  # a row that shows the main flags only (`distilbo NAME --help` has the rest)
            continue
        # otherwise the command's own long options (help aside) all appear in its row
        own = {s for a in commands[name]._actions for s in a.option_strings
               if s.startswith("--") and s != "--help" and a.help != argparse.SUPPRESS}
        assert own <= shown, f"distilbo {name}: accepts {sorted(own - shown)}, not in the README table"
