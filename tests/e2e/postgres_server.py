"""A throw-away PostgreSQL on 127.0.0.1 for the journal's tests and benchmark.

Debian's PostgreSQL server binaries (``make e2e`` installs them). As root the server runs as
the ``postgres`` user from a temporary data directory it owns.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator

__all__ = ["find_bin_dir", "postgres_server"]


def find_bin_dir() -> str:
    """The directory of ``initdb`` and ``pg_ctl``; a clear error when they are missing."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return os.path.dirname(found[-1])
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl:
        return os.path.dirname(pg_ctl)
    raise RuntimeError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: "
        "install Debian's postgresql (make e2e does: sudo apt-get install postgresql)"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Start a fresh server for the block; its DSN (user ``postgres``, trust auth on
    127.0.0.1). Stopped and deleted after."""
    bin_dir = find_bin_dir()
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    base = tempfile.mkdtemp(prefix="epay-pg-")
    data, sock = os.path.join(base, "data"), os.path.join(base, "sock")
    os.mkdir(sock)
    if as_root:
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
    port = _free_port()
    user = "postgres" if as_root else os.environ.get("USER", "postgres")

    def run(*args: str) -> None:
        done = subprocess.run(  # noqa: S603 - the server's own binaries
            [*prefix, *args], capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode:
            raise RuntimeError(f"{args[0]} failed: {done.stderr.strip() or done.stdout.strip()}")

    try:
        run(
            f"{bin_dir}/initdb", "-D", data, "-U", user, "--auth=trust", "-E", "UTF8",
            "--no-sync",
        )  # fmt: skip
        run(
            f"{bin_dir}/pg_ctl", "-D", data, "-w", "-t", "60", "-l", os.path.join(base, "log"),
            "-o", f"-h 127.0.0.1 -p {port} -k {sock} -c fsync=on", "start",
        )  # fmt: skip
        try:
            yield f"postgresql://{user}@127.0.0.1:{port}/postgres"
        finally:
            run(f"{bin_dir}/pg_ctl", "-D", data, "-w", "-m", "fast", "stop")
    finally:
        shutil.rmtree(base, ignore_errors=True)
