"""``epay.recover()``: settle the journal's open records with the gateway's word."""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Awaitable, Callable

import attrs

from epay_async.errors import EpayError
from epay_async.journal._protocol import Journal
from epay_async.journal._record import JournalRecord
from epay_async.types.status import PaymentState, TransactionStatus

__all__ = ["Recovered", "recover"]

StatusLookup = Callable[[str, str], Awaitable[TransactionStatus]]


@attrs.frozen
class Recovered:
    """What ``recover()`` did with one open record.

    ``settled`` is True when this call closed it with ``status`` (another process may have
    closed it first: then False, and ``record`` shows what that process wrote). When the record
    stays open, ``reason`` says why: it is younger than ``older_than`` and its writer still
    runs (``under_way``: its request may still be under way; it was not asked about), the
    gateway still processes it (107/NEW), it has no
    such invoice (102) yet while the record is younger than ``older_than`` (its writer gone:
    a request it sent may still arrive), check-status failed, or the record has no invoice id
    to check (a charge, cancel or refund: check its transaction in the merchant cabinet, then
    close it with ``journal.settle``).
    """

    record: JournalRecord
    status: TransactionStatus | None = None
    settled: bool = False
    reason: str | None = None
    #: Left alone: younger than ``older_than``, written by a process that still runs.
    under_way: bool = False


def _writer_is_gone(writer: str) -> bool:
    """True when the record was written by a process of this machine that no longer runs."""
    host, _, pid = writer.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, owned by someone else
        return False
    return False


_UNDER_WAY = (
    "younger than older_than, and its writer still runs: its request may still be under way"
)
_NOT_THERE_YET = (
    "not at the gateway yet, and its writer stopped only recently: asked again once the "
    "record is older than the deadline"
)


async def recover(
    journal: Journal,
    get_status: StatusLookup,
    *,
    older_than: dt.timedelta,
    include_under_way: bool = False,
) -> list[Recovered]:
    """Ask check-status for every open record older than ``older_than`` (or written by a
    process of this machine that is gone) and close it with the answer; one :class:`Recovered`
    per record asked about (and, with ``include_under_way``, per record left alone)."""
    now = dt.datetime.now(dt.timezone.utc)
    done: list[Recovered] = []
    for record in await journal.open_records():
        young = now - record.created_at < older_than
        if young and not _writer_is_gone(record.writer):  # perhaps a request under way
            if include_under_way:
                done.append(Recovered(record, reason=_UNDER_WAY, under_way=True))
            continue
        if record.invoice_id is None:
            done.append(Recovered(record, reason="no invoice id to check"))
            continue
        try:
            status = await get_status(record.invoice_id, record.kind)
        except EpayError as exc:
            done.append(Recovered(record, reason=f"check-status failed: {type(exc).__name__}"))
            continue
        if status.state is PaymentState.PENDING:
            done.append(Recovered(record, status, reason="the gateway is still processing it"))
            continue
        if status.state is PaymentState.NOT_FOUND and young:
            # The writer stopped moments ago: a request it sent may not be at the gateway yet.
            # Closed now, the record would let the invoice be paid a second time.
            done.append(Recovered(record, status, reason=_NOT_THERE_YET))
            continue
        settled = await journal.settle(
            record.id,
            result_code=int(status.result_code),
            status_name=status.transaction.status_name if status.transaction else None,
            state=status.state,
        )
        after = await journal.get(record.id)
        done.append(Recovered(after or record, status, settled=settled))
    return done
