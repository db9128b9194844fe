"""Services of the fault tests' own, so that stopping them disturbs no other test: a private
PostgreSQL cluster (Debian's postgresql-common tools) and a private redis-server process."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.support import free_port

TOOLS = ("pg_createcluster", "pg_ctlcluster", "pg_dropcluster", "pg_lsclusters")


def _run(*cmd: str, timeout: float = 60) -> str:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return out.stdout


def wait_port(port: int, up: bool, timeout: float = 20.0) -> None:
    """Until something listens on 127.0.0.1:port (or, with up=False, nothing does)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                listening = True
        except OSError:
            listening = False
        if listening == up:
            return
        time.sleep(0.05)
    raise AssertionError(f"127.0.0.1:{port} still {'closed' if up else 'open'} after {timeout:g} s")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PgCluster:
    """A PostgreSQL cluster of its own (`pg_createcluster VERSION PREFIX_PID`), trusting local TCP
    connections, that a test may restart or stop at will. Named after this process, so that two
    test runs at once never touch each other's; clusters left by runs that died are dropped.
    Debian's tools run the server as the postgres user; creating one needs root."""

    def __init__(self, prefix: str) -> None:
        missing = [t for t in TOOLS if shutil.which(t) is None]
        if missing:
            raise RuntimeError(f"the fault tests need Debian's PostgreSQL cluster tools (postgresql-common): "
                               f"{', '.join(missing)} not on PATH; install the postgresql package")
        if os.geteuid() != 0:
            raise RuntimeError("the fault tests create a PostgreSQL cluster with pg_createcluster: run them as root")
        versions = sorted((p.name for p in Path("/usr/lib/postgresql").glob("*") if (p / "bin" / "initdb").exists()),
                          key=lambda v: float(v) if v.replace(".", "").isdigit() else 0.0)
        if not versions:
            raise RuntimeError("no PostgreSQL server under /usr/lib/postgresql/*/bin: install the postgresql package")
        self.version, self.prefix, self.port = versions[-1], prefix, free_port()
        self.name = f"{prefix}_{os.getpid()}"

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _drop(self, name: str) -> None:
        if Path(f"/etc/postgresql/{self.version}/{name}").exists():
            _run("pg_dropcluster", "--stop", self.version, name)
        data = Path(f"/var/lib/postgresql/{self.version}/{name}")
        if data.exists():  # its data without its configuration: pg_createcluster would refuse
            shutil.rmtree(data)

    def create(self) -> None:
        for root in (Path(f"/etc/postgresql/{self.version}"), Path(f"/var/lib/postgresql/{self.version}")):
            for left in list(root.glob(f"{self.prefix}_*")):  # left by runs that were killed
                pid = left.name.rsplit("_", 1)[1]
                if pid.isdigit() and (int(pid) == os.getpid() or not _alive(int(pid))):
                    self._drop(left.name)
        _run("pg_createcluster", self.version, self.name, "--port", str(self.port), "--start-conf", "manual",
             "--start", "--", "--auth=trust", "--no-sync", timeout=120)
        wait_port(self.port, up=True)

    def ctl(self, action: str) -> None:
        """start, stop (fast: sessions are ended, as by a service restart) or restart."""
        _run("pg_ctlcluster", self.version, self.name, action)
        if action != "stop":
            wait_port(self.port, up=True)

    def drop(self) -> None:
        self._drop(self.name)


class RedisServer:
    """redis-server on a free loopback port, without persistence: a restart comes back empty, as
    a cache node that was replaced."""

    def __init__(self, log: Path) -> None:
        if shutil.which("redis-server") is None:
            raise RuntimeError("the fault tests need redis-server on PATH (Debian: redis-server)")
        self.port, self.log = free_port(), log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                 "no", "--dir", str(self.log.parent)], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        wait_port(self.port, up=True)

    def kill(self) -> None:
        """SIGKILL: the process dies at once, as on a crash or an OOM kill."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None
        wait_port(self.port, up=False)
