"""Debian's OpenLDAP server (slapd) as a plain process on a loopback port, with TLS from a
private CA, a generated slapd.conf and generated people, groups and computers.

The directory looks like a small office's: ``dc=example,dc=org`` with ``ou=people``
(inetOrgPerson), ``ou=groups`` (groupOfNames/member), ``ou=computers`` (device, the
room in ``l``) and a service account in ``ou=services`` that may read but not
write. The ppolicy overlay is loaded so an account can be locked the way OpenLDAP
admins do it (``pwdAccountLockedTime``). Changes while it runs go through
``ldapmodify`` (ldap-utils) as the directory's manager.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.hub import free_port
from tests.support.tls import TlsFiles, make_tls

SLAPD = "/usr/sbin/slapd"  # Debian's package "slapd" (scripts/system-packages installs it)
SLAPADD = "/usr/sbin/slapadd"
LDAPMODIFY = "/usr/bin/ldapmodify"  # Debian's package "ldap-utils"
SCHEMA = Path("/etc/ldap/schema")
MODULES = Path("/usr/lib/ldap")

SUFFIX = "dc=example,dc=org"
MANAGER = f"cn=manager,{SUFFIX}"
MANAGER_PASSWORD = "manager-geheim-1"
SERVICE = f"cn=silent-alarm,ou=services,{SUFFIX}"
SERVICE_PASSWORD = "dienstkonto-geheim-4711"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
COMPUTERS = f"ou=computers,{SUFFIX}"


def person(uid: str) -> str:
    return f"uid={uid},{PEOPLE}"


def group(cn: str) -> str:
    return f"cn={cn},{GROUPS}"


def computer(cn: str) -> str:
    return f"cn={cn},{COMPUTERS}"


@dataclass(frozen=True)
class Person:
    uid: str
    name: str
    password: str
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Computer:
    cn: str
    room: str | None


@dataclass
class RunningSlapd:
    process: subprocess.Popen[bytes]
    port: int  # ldaps://
    plain_port: int  # ldap:// (StartTLS)
    folder: Path
    tls: TlsFiles
    config: Path
    people: dict[str, Person] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"ldaps://127.0.0.1:{self.port}"

    @property
    def misnamed_url(self) -> str:
        """The server, trusted CA and all, at an address its certificate does not name."""
        return f"ldaps://127.0.0.2:{self.port}"

    @property
    def plain_url(self) -> str:
        return f"ldap://127.0.0.1:{self.plain_port}"

    def password(self, uid: str) -> str:
        return self.people[uid].password

    def modify(self, ldif: str) -> None:
        """Applies LDIF change records as the manager (over ldaps://, trusting the test CA)."""
        result = subprocess.run(
            [LDAPMODIFY, "-H", self.url, "-x", "-D", MANAGER, "-w", MANAGER_PASSWORD],
            input=ldif,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env={**os.environ, "LDAPTLS_CACERT": str(self.tls.ca), "LDAPTLS_REQCERT": "demand"},
        )
        assert result.returncode == 0, result.stderr

    def lock(self, uid: str) -> None:
        """Disables the account as OpenLDAP's ppolicy does (locked for good)."""
        self.modify(
            f"dn: {person(uid)}\nchangetype: modify\nadd: pwdAccountLockedTime\n"
            "pwdAccountLockedTime: 000001010000Z\n"
        )

    def leave(self, uid: str, cn: str) -> None:
        self.modify(f"dn: {group(cn)}\nchangetype: modify\ndelete: member\nmember: {person(uid)}\n")

    def remove(self, uid: str) -> None:
        """Deletes the account (its group memberships stay, as a dangling member would)."""
        self.modify(f"dn: {person(uid)}\nchangetype: delete\n")

    def join(self, uid: str, cn: str) -> None:
        self.modify(f"dn: {group(cn)}\nchangetype: modify\nadd: member\nmember: {person(uid)}\n")

    def set_room(self, cn: str, room: str) -> None:
        self.modify(f"dn: {computer(cn)}\nchangetype: modify\nreplace: l\nl: {room}\n")

    def log(self) -> str:
        path = self.folder / "slapd.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def restart(self) -> None:
        """The same server again, on the same ports, with the data it had."""
        self.stop()
        self.process = _serve(self.folder, self.config, self.port, self.plain_port)


def hub_env(
    slapd: RunningSlapd,
    roles: dict[str, str],
    sites: dict[str, list[int]],
    check_interval: float = 1.0,
) -> dict[str, str]:
    """A hub's ``SILENT_ALARM_LDAP_*`` settings for this directory: the read-only service
    account over ldaps:// trusting the test CA, ppolicy's lock as "disabled", the computers
    with the room in ``l``; ``roles`` and ``sites`` map group CNs to a role and site ids
    (``[]``: every site)."""
    return {
        "SILENT_ALARM_LDAP_URL": slapd.url,
        "SILENT_ALARM_LDAP_CA_FILE": str(slapd.tls.ca),
        "SILENT_ALARM_LDAP_BIND_DN": SERVICE,
        "SILENT_ALARM_LDAP_BIND_PASSWORD": SERVICE_PASSWORD,
        "SILENT_ALARM_LDAP_USER_BASE": PEOPLE,
        "SILENT_ALARM_LDAP_GROUP_BASE": GROUPS,
        "SILENT_ALARM_LDAP_DISABLED_FILTER": "(pwdAccountLockedTime=*)",
        "SILENT_ALARM_LDAP_GROUP_ROLES": json.dumps({group(cn): r for cn, r in roles.items()}),
        "SILENT_ALARM_LDAP_GROUP_SITES": json.dumps({group(cn): s for cn, s in sites.items()}),
        "SILENT_ALARM_LDAP_CHECK_INTERVAL": str(check_interval),
        "SILENT_ALARM_LDAP_COMPUTER_BASE": COMPUTERS,
        "SILENT_ALARM_LDAP_COMPUTER_FILTER": "(objectClass=device)",
        "SILENT_ALARM_LDAP_COMPUTER_ROOM_ATTRIBUTE": "l",
    }


def _config(folder: Path, tls: TlsFiles) -> str:
    schemas = "".join(
        f"include {SCHEMA / name}.schema\n" for name in ("core", "cosine", "inetorgperson", "nis")
    )
    return f"""{schemas}
modulepath {MODULES}
moduleload back_mdb
moduleload ppolicy
pidfile {folder / "slapd.pid"}
argsfile {folder / "slapd.args"}
TLSCACertificateFile {tls.ca}
TLSCertificateFile {tls.certificate}
TLSCertificateKeyFile {tls.key}

database mdb
maxsize 16777216
suffix "{SUFFIX}"
rootdn "{MANAGER}"
rootpw {MANAGER_PASSWORD}
directory {folder / "data"}
overlay ppolicy

access to attrs=userPassword
    by self write
    by anonymous auth
    by * none
access to *
    by dn.exact="{SERVICE}" read
    by self read
    by * none
"""


def _entries(people: list[Person], computers: list[Computer]) -> str:
    blocks = [
        f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\n"
        "o: Jobcenter Beispielstadt",
    ]
    for ou in ("people", "groups", "computers", "services"):
        blocks.append(f"dn: ou={ou},{SUFFIX}\nobjectClass: organizationalUnit\nou: {ou}")
    blocks.append(
        f"dn: {SERVICE}\nobjectClass: applicationProcess\nobjectClass: simpleSecurityObject\n"
        f"cn: silent-alarm\nuserPassword: {SERVICE_PASSWORD}"
    )
    for p in people:
        first, _, last = p.name.partition(" ")
        blocks.append(
            f"dn: {person(p.uid)}\nobjectClass: inetOrgPerson\nuid: {p.uid}\ncn: {p.name}\n"
            f"sn: {last or first}\ngivenName: {first}\ndisplayName: {p.name}\n"
            f"userPassword: {p.password}"
        )
    members: dict[str, list[str]] = {}
    for p in people:
        for cn in p.groups:
            members.setdefault(cn, []).append(person(p.uid))
    for cn, dns in sorted(members.items()):
        lines = "".join(f"member: {dn}\n" for dn in dns)
        blocks.append(f"dn: {group(cn)}\nobjectClass: groupOfNames\ncn: {cn}\n{lines}".rstrip())
    for c in computers:
        room = f"\nl: {c.room}" if c.room is not None else ""
        blocks.append(f"dn: {computer(c.cn)}\nobjectClass: device\ncn: {c.cn}{room}")
    return "\n\n".join(blocks) + "\n"


def start_slapd(folder: Path, people: list[Person], computers: list[Computer]) -> RunningSlapd:
    """Generates the config, loads the entries offline (slapadd) and serves them; returns
    once the ldaps:// port takes connections."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data").mkdir(exist_ok=True)
    tls = make_tls(folder / "tls")
    config = folder / "slapd.conf"
    config.write_text(_config(folder, tls), encoding="utf-8")
    data = folder / "entries.ldif"
    data.write_text(_entries(people, computers), encoding="utf-8")
    loaded = subprocess.run(
        [SLAPADD, "-f", str(config), "-l", str(data)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr
    for _ in range(3):  # a free port can be taken between probing and binding
        port, plain_port = free_port(), free_port()
        process = _serve(folder, config, port, plain_port)
        if process.poll() is None:
            return RunningSlapd(
                process, port, plain_port, folder, tls, config, {p.uid: p for p in people}
            )
    raise RuntimeError(f"slapd did not start:\n{(folder / 'slapd.log').read_text()[-3000:]}")


def _serve(folder: Path, config: Path, port: int, plain_port: int) -> subprocess.Popen[bytes]:
    # 127.0.0.2: the same server under an address its certificate does not name.
    urls = f"ldaps://127.0.0.1:{port}/ ldap://127.0.0.1:{plain_port}/ ldaps://127.0.0.2:{port}/"
    with (folder / "slapd.log").open("ab") as log:
        # -d keeps slapd in the foreground (a child of the test, ended by it); 0 logs little.
        process = subprocess.Popen(
            [SLAPD, "-f", str(config), "-h", urls, "-d", "0"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return process
        time.sleep(0.05)
    if process.poll() is None:
        process.kill()
        process.wait(5)
    return process
