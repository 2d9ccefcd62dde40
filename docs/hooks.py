"""MkDocs hooks: pages generated from the code, so they cannot drift from it.

``<!-- generated: cli -->`` in a page becomes the ``--help`` of ``epay-async`` and of each of its
commands, read from the parser itself.

The docstrings use Sphinx roles (``:class:`~epay_async.EpayClient```); mkdocstrings renders
them as text, so the rendered role (``:class:<code>~epay_async.EpayClient</code>``) is cut back
to the name as code (``<code>EpayClient</code>``); and the reST ``::`` that introduces a code
block is read as reST reads it (``text::`` is ``text:``, a lone ``::`` is nothing).
"""

from __future__ import annotations

import argparse
import re
from typing import Any

CLI_MARKER = "<!-- generated: cli -->"
SPHINX_ROLE = re.compile(
    r":(?:py:)?(?:class|meth|func|attr|mod|data|exc|obj):<code>(~?)([^<]*)</code>"
)


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


def _role(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    return f"<code>{target.rsplit('.', 1)[-1] if tilde else target}</code>"


def on_page_content(html: str, **_: Any) -> str:
    html = SPHINX_ROLE.sub(_role, html)
    html = re.sub(r"<p>::</p>\s*", "", html)
    html = re.sub(r"\s::</p>", "</p>", html)
    return re.sub(r"(?<=[^\s:])::</p>", ":</p>", html)
