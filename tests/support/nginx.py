"""Debian's nginx as a plain process in front of a test hub, with the documented recipe."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import ssl
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.hub import RunningHub, free_port
from tests.support.proxy_recipe import documented_site
from tests.support.tls import TlsFiles

NGINX = "/usr/sbin/nginx"  # Debian's package "nginx" (scripts/system-packages installs it)


@dataclass
class RunningNginx:
    process: subprocess.Popen[bytes]
    port: int
    prefix: Path  # config, pid, logs and temp files: nothing outside it is written
    tls: TlsFiles

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def verify(self) -> ssl.SSLContext:
        """What a client needs to trust the proxy: the private CA, nothing else."""
        return ssl.create_default_context(cafile=str(self.tls.ca))

    def log(self) -> str:
        """nginx's error log (its stderr) and the access log, for a failure's message."""
        return "\n".join(
            path.read_text(encoding="utf-8", errors="replace")
            for path in (self.prefix / "nginx.log", self.prefix / "access.log")
            if path.exists()
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # nginx's fast shutdown
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def through(hub: RunningHub, proxy: RunningNginx) -> RunningHub:
    """The same hub as clients see it through the proxy: url, agent_ws_url and verify() are
    the proxy's (https, wss, the private CA); data, log and process stay the hub's."""
    return dataclasses.replace(hub, port=proxy.port, tls=proxy.tls)


def nginx_conf(prefix: Path, site: str) -> str:
    """A minimal nginx.conf around the documented site, writing only below ``prefix``."""
    temp = prefix / "temp"
    # Started by root (as in CI) the workers would run as "nobody", which cannot enter the
    # test's private temp folder; an unprivileged start ignores the directive.
    user = "user root root;\n" if os.geteuid() == 0 else ""
    return (
        f"{user}worker_processes 1;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        f"    access_log {prefix / 'access.log'};\n"
        f"    client_body_temp_path {temp / 'body'};\n"
        f"    proxy_temp_path {temp / 'proxy'};\n"
        f"    fastcgi_temp_path {temp / 'fastcgi'};\n"
        f"    uwsgi_temp_path {temp / 'uwsgi'};\n"
        f"    scgi_temp_path {temp / 'scgi'};\n"
        "    ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;  # as Debian's nginx.conf has it\n"
        "    # docs/configuration.md, as an admin puts it in sites-available and conf.d:\n"
        f"{site}"
        "}\n"
    )


def start_nginx(
    prefix: Path, hubs: RunningHub | Sequence[RunningHub], tls: TlsFiles, timeout: float = 15
) -> RunningNginx:
    """nginx on a free port of 127.0.0.1 in front of ``hubs`` (one upstream server each);
    returns once /healthz answers through it over TLS checked against the private CA.

    A free port can be taken between probing and binding; the start is then tried again.
    """
    upstream = [hubs] if isinstance(hubs, RunningHub) else list(hubs)
    for attempt in range(3):
        try:
            return _start_once(prefix, free_port(), upstream, tls, timeout)
        except PortTaken:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


class PortTaken(RuntimeError):
    pass


def _start_once(
    prefix: Path, port: int, hubs: list[RunningHub], tls: TlsFiles, timeout: float
) -> RunningNginx:
    (prefix / "temp").mkdir(parents=True, exist_ok=True)
    site = documented_site(
        port=port,
        certificate=tls.certificate,
        key=tls.key,
        hubs=[f"127.0.0.1:{hub.port}" for hub in hubs],
    )
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_conf(prefix, site), encoding="utf-8")
    # In the foreground, as the test's child; its errors on the stderr the test keeps.
    main = f"daemon off; pid {prefix / 'nginx.pid'}; error_log stderr;"
    with (prefix / "nginx.log").open("ab") as log_file:
        process = subprocess.Popen(
            [NGINX, "-p", str(prefix), "-c", str(conf), "-g", main],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    proxy = RunningNginx(process, port, prefix, tls)
    deadline = time.monotonic() + timeout
    # One client for every probe (httpx.get() loads the CA bundle each time: hub.py).
    with httpx.Client(timeout=1, verify=proxy.verify()) as probe:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                output = proxy.log()[-3000:]
                error = PortTaken if "Address already in use" in output else RuntimeError
                raise error(f"nginx exited with {process.returncode}:\n{output}")
            with contextlib.suppress(httpx.HTTPError):
                if probe.get(f"{proxy.url}/healthz").status_code == 200:
                    return proxy
            time.sleep(0.05)
    proxy.stop()
    raise RuntimeError(f"nginx did not pass /healthz on within {timeout} s:\n{proxy.log()[-3000:]}")
