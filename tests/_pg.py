"""A throwaway PostgreSQL server for tests: `with postgres_server() as url: ...` (or the `pg_url` fixture below).

initdb + pg_ctl from PATH or Debian's /usr/lib/postgresql/*/bin (the `postgresql` package does not put them on
PATH); as root they run as the `postgres` user (initdb refuses root). Data directory in a fresh temp folder, a free
loopback port, password authentication; the server is stopped (immediate) and the folder removed afterwards.
`postgres_server()` raises `PostgresUnavailable` with the reason when there is no server to start.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

PASSWORD = "s3cret-pw"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries, or no way to run them here (the reason is the message)."""


def server_bin(name: str) -> str | None:
    """Path of a PostgreSQL server program (initdb, pg_ctl), or None."""
    found = shutil.which(name)
    if found:
        return found
    cands = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]) if
                   p.split("/")[4].isdigit() else 0)
    return cands[-1] if cands else None


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Start a server; yields `postgresql://bob:PASSWORD@127.0.0.1:PORT/postgres`."""
    initdb, pg_ctl = server_bin("initdb"), server_bin("pg_ctl")
    if not (initdb and pg_ctl):
        raise PostgresUnavailable("PostgreSQL server binaries (initdb, pg_ctl) not installed; "
                                  "apt-get install postgresql (.ci/run does)")
    prefix: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="distilbo-pg-"))
    if os.geteuid() == 0:  # initdb refuses to run as root
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(base, ignore_errors=True)
            raise PostgresUnavailable("running as root and there is no 'postgres' user to run the server") from None
        shutil.chown(base, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    (base / "pw").write_text(PASSWORD)
    if prefix:
        shutil.chown(base / "pw", "postgres")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = base / "data"
    started = False
    try:
        subprocess.run([*prefix, initdb, "-D", str(data), "-U", "bob", f"--pwfile={base / 'pw'}", "-A",
                        "scram-sha-256"], check=True, capture_output=True, timeout=120)
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-l", str(base / "log"), "-w", "-o",
                        f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                       check=True, capture_output=True, timeout=120)
        started = True
        yield f"postgresql://bob:{PASSWORD}@127.0.0.1:{port}/postgres"
    except subprocess.CalledProcessError as e:
        if started:
            raise
        raise PostgresUnavailable(f"could not start PostgreSQL: {e.stderr.decode(errors='replace')[-300:]}") from None
    finally:
        if data.exists():
            subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True,
                           timeout=60)
        shutil.rmtree(base, ignore_errors=True)
