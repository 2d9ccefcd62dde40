"""The gateway's error / reasonCode table (epay-api.md §8), for messages and finality.

``lookup(487)`` -> ``GatewayCode(487, "Not permitted to merchant", final=True)``. A code that is
not final (454, 459) means: the outcome may still change, so check the status.
"""

from __future__ import annotations

import attrs

__all__ = ["CODES", "GatewayCode", "lookup"]


@attrs.frozen
class GatewayCode:
    code: int
    meaning: str
    #: False when the money may still move: check ``get_status`` before telling the payer.
    final: bool = True


_TABLE: tuple[tuple[int, str, bool], ...] = (
    (0, "Success", True),
    (454, "Operation failed; the amount may be blocked: check the status", False),
    (455, "3-D Secure unavailable or wrong card number", True),
    (456, "Cannot pay with this card", True),
    (457, "Wrong expiry date", True),
    (458, "Server not responding", True),
    (459, "Server not responding or wrong card number: check the status", False),
    (460, "Error; the amount may be blocked", True),
    (461, "System error", True),
    (462, "Call your bank", True),
    (463, "Call your bank", True),
    (464, "Invalid merchant", True),
    (465, "Card restricted", True),
    (466, "Declined, call your bank", True),
    (467, "Card disabled", True),
    (468, "Additional identification required", True),
    (
        469,
        "Invalid transaction (also the answer for an invoice already paid: check get_status)",
        True,
    ),
    (470, "Invalid amount", True),
    (471, "No such card", True),
    (472, "No such card", True),
    (473, "3-D Secure authentication failed", True),
    (475, "Invalid response", True),
    (476, "No action taken", True),
    (477, "Format error", True),
    (478, "Expired card", True),
    (479, "Restricted card", True),
    (480, "Call your bank", True),
    (481, "Lost card", True),
    (482, "Lost card", True),
    (483, "Stolen card", True),
    (484, "Not sufficient funds", True),
    (485, "Expired card", True),
    (486, "Not permitted to the payer by the issuer", True),
    (487, "Not permitted to merchant", True),
    (488, "Exceeds amount limit", True),
    (489, "Restricted card", True),
    (490, "Payments banned on this card", True),
    (491, "Exceeds frequency limit", True),
    (492, "Card blocked (PIN tries exceeded)", True),
    (493, "Time-out at the issuer", True),
    (494, "Issuer unavailable", True),
    (495, "Transaction prohibited, use another card", True),
    (496, "3-D Secure code absent or system error", True),
    (497, "Server not responding", True),
    (498, "Payment with bonuses unavailable", True),
    (505, "More than 3 transactions (limit)", True),
    (703, "Error", True),
    (1373, "No saved cards", True),
    (1612, "Merchant country check failed", True),
    (1636, "Card owner not established", True),
    (1654, "OTP verification failed", True),
    (1759, "Transaction could not be processed", True),
    (2092, "Unable to pay with this card", True),
)

CODES: dict[int, GatewayCode] = {
    code: GatewayCode(code, text, final) for code, text, final in _TABLE
}


def lookup(code: int | None) -> GatewayCode | None:
    """The table's entry for ``code``, or None when the code is not documented."""
    return None if code is None else CODES.get(code)
