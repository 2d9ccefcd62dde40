"""MkDocs hooks: pages generated from the code, so they cannot drift from it.

``<!-- generated: cli -->`` in a page becomes the ``--help`` of ``epay-async`` and of each of its
commands, read from the parser itself.
"""

from __future__ import annotations

import argparse
from typing import Any

CLI_MARKER = "<!-- generated: cli -->"


def _cli_help() -> str:
    from epay_async._cli import _parser  # noqa: PLC0415 - only when a page asks for it

    parser = _parser()
    parts = ["```text", parser.format_help().rstrip(), "```"]

    def commands(parent: argparse.ArgumentParser, prefix: str) -> None:
        for action in parent._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    parts.extend(["", f"### `{prefix} {name}`", "", "```text"])
                    parts.extend([sub.format_help().rstrip(), "```"])
                    commands(sub, f"{prefix} {name}")  # journal list, journal recover

    commands(parser, "epay-async")
    return "\n".join(parts)


def on_page_markdown(markdown: str, **_: Any) -> str:
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, _cli_help())
    return markdown
