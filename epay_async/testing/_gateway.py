"""The emulated ePay gateway, assembled: its settings, its ledger (``_ledger``), its router
(``_router``) with every surface's handlers (``_handlers/``) mounted, and the notifier that
delivers the postLink notifications a request caused before that request is answered."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import rsa

from ._handlers.acs import AcsPage
from ._handlers.cards import CardEndpoints
from ._handlers.invoice_links import InvoiceLinkEndpoints
from ._handlers.operations import OperationEndpoints
from ._handlers.payform import PaymentForm
from ._handlers.payments import PaymentEndpoints
from ._handlers.registers import RegisterEndpoints
from ._handlers.status import (
    StatusEndpoints,
    synthesized_status,  # benchmarks import it from here
)
from ._handlers.tokens import TokenEndpoints
from ._handlers.transfers import TransferEndpoints
from ._ledger import Ledger
from ._merchant import GatewaySettings, Merchant
from ._notify import Notifier
from ._records import IssuedToken
from ._router import Router, Surface
from ._wire import SandboxRequest, SandboxResponse

__all__ = ["Gateway", "synthesized_status"]


class Gateway:
    """The ledger, the router and the handlers of every surface, wired together."""

    def __init__(self, settings: GatewaySettings, notifier: Notifier) -> None:
        self.settings = settings
        self.ledger = Ledger(settings)
        self.notifier = notifier
        self.router = Router()
        ledger = self.ledger
        #: The surfaces tests reach into (``register.add_operations``, ``invoice_links.sent``).
        self.invoice_links = InvoiceLinkEndpoints(ledger)
        self.register = RegisterEndpoints(ledger)
        surfaces: tuple[Surface, ...] = (
            TokenEndpoints(ledger, settings),
            StatusEndpoints(ledger, settings),
            PaymentEndpoints(ledger, settings),
            TransferEndpoints(ledger),
            AcsPage(ledger),
            PaymentForm(ledger),
            OperationEndpoints(ledger),
            CardEndpoints(ledger),
            self.invoice_links,
            self.register,
        )
        for surface in surfaces:
            surface.mount(self.router)

    async def handle(self, request: SandboxRequest) -> SandboxResponse:
        """The gateway's answer to ``request``, once the notifications it caused are out."""
        response = await self.router.handle(request)
        while due := self.ledger.take_notifications():
            for transaction, success in due:
                await self.notifier.deliver(transaction, success)
        return response

    # -- what tests look at ---------------------------------------------------------------

    @property
    def merchant(self) -> Merchant:
        return self.settings.merchant

    @property
    def tokens(self) -> dict[str, IssuedToken]:
        """Every token issued, by value (the ledger's)."""
        return self.ledger.tokens

    @property
    def private_key(self) -> rsa.RSAPrivateKey:
        return self.settings.private_key

    @property
    def answer_any_invoice(self) -> bool:
        """Answer check-status for invoices never paid here (see ``synthesized_status``)."""
        return self.settings.answer_any_invoice

    @answer_any_invoice.setter
    def answer_any_invoice(self, value: bool) -> None:
        self.settings.answer_any_invoice = value
