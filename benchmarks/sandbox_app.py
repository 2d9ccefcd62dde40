"""The sandbox as an ASGI app for uvicorn: ``uvicorn benchmarks.sandbox_app:app``."""

from epay_async.testing import Sandbox

sandbox = Sandbox(key_bits=2048, answer_any_invoice=True, record_requests=False)
app = sandbox.asgi_app
