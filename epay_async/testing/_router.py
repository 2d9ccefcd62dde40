"""The sandbox's router: which handler answers which method and path."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Protocol

from ._wire import SandboxRequest, SandboxResponse

__all__ = ["Handler", "Router", "Surface"]

#: A handler: the request and its path's match (the groups are the path's parameters).
Handler = Callable[[SandboxRequest, "re.Match[str]"], Awaitable[SandboxResponse]]


class Router:
    """Routes in the order they were added; a path must match a route's pattern whole."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method, re.compile(pattern), handler))

    async def handle(self, request: SandboxRequest) -> SandboxResponse:
        """The answer of the route for ``request``, or 404 when none matches."""
        for method, pattern, handler in self.routes:
            match = pattern.fullmatch(request.path)
            if match and method == request.method:
                return await handler(request, match)
        return SandboxResponse.error(404, 404, f"no such endpoint: {request.method} {request.path}")


class Surface(Protocol):
    """A surface of the gateway (``_handlers/``): it adds its routes to a router."""

    def mount(self, router: Router) -> None: ...
