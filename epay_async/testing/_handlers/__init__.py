"""The sandbox's handlers, one module per surface of the gateway.

Each module's ``*Endpoints`` (or page) class reads requests, asks the ledger
(``.._ledger``) and shapes the answers; ``mount(router)`` adds its routes. ``shared`` holds
what several surfaces have in common.
"""
