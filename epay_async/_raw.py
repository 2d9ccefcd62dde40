"""Raw responses: ``await epay.with_raw_response.get_status(invoice_id)``.

The convention of openai-python: the same call, returning a :class:`RawResponse` that shows
the gateway's last answer to it (status code, headers, time, attempts) and whose
:meth:`RawResponse.parse` returns what the plain call returns. Errors raised from an answer
carry the same :class:`ResponseInfo` (``error.response``). Neither holds the body: it may
hold card data, and every body is read into the typed result.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Generic, ParamSpec, TypeVar

import attrs

from ._http import Answer

if TYPE_CHECKING:
    from ._transport import Attempts

__all__ = ["RawResponse", "ResponseInfo", "answer_info", "raw_response", "record_answer"]

T = TypeVar("T")
P = ParamSpec("P")

#: Headers never shown: they may carry a session or a token.
_HIDDEN_HEADERS = frozenset({"set-cookie", "authorization", "proxy-authorization", "cookie"})


@attrs.frozen
class ResponseInfo:
    """The gateway's last answer to a call: no body."""

    status_code: int
    headers: Mapping[str, str]
    #: Seconds from sending the request to reading the whole answer.
    elapsed: float
    #: HTTP attempts made for the request (retries included).
    attempts: int

    @classmethod
    def of(cls, answer: Answer, attempts: int) -> ResponseInfo:
        headers = {
            str(name).lower(): str(value)
            for name, value in answer.headers.items()
            if str(name).lower() not in _HIDDEN_HEADERS
        }
        return cls(answer.status_code, headers, answer.elapsed, attempts)


_CAPTURE: ContextVar[list[ResponseInfo] | None] = ContextVar("epay_async_raw", default=None)


def record_answer(attempts: Attempts) -> None:
    """Keep the answer of one request, when a raw response is being taken in this task."""
    capture = _CAPTURE.get()
    if capture is not None and attempts.answer is not None:
        capture.append(ResponseInfo.of(attempts.answer, attempts.count))


def answer_info(attempts: Attempts) -> ResponseInfo | None:
    """What an error raised from this request shows of its answer."""
    if attempts.answer is None:
        return None
    return ResponseInfo.of(attempts.answer, attempts.count)


@attrs.frozen
class RawResponse(Generic[T]):
    """A call's result with the gateway's answer to it."""

    info: ResponseInfo | None
    _parsed: T = attrs.field(repr=False, alias="parsed")

    @property
    def status_code(self) -> int | None:
        """The last answer's status (``None`` when the call needed no request, e.g. a
        payment page whose token was already known)."""
        return self.info.status_code if self.info else None

    @property
    def headers(self) -> Mapping[str, str]:
        return self.info.headers if self.info else {}

    @property
    def elapsed(self) -> float | None:
        return self.info.elapsed if self.info else None

    @property
    def attempts(self) -> int:
        return self.info.attempts if self.info else 0

    def parse(self) -> T:
        """What the plain call returns."""
        return self._parsed


def raw_response(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[RawResponse[T]]]:
    """``method`` returning a :class:`RawResponse` of the last answer it read."""

    @functools.wraps(method)
    async def call(*args: P.args, **kwargs: P.kwargs) -> RawResponse[T]:
        seen: list[ResponseInfo] = []
        reset = _CAPTURE.set(seen)
        try:
            result = await method(*args, **kwargs)
        finally:
            _CAPTURE.reset(reset)
        return RawResponse(seen[-1] if seen else None, parsed=result)

    return call
