"""The target: which server to test and with which mailboxes (docs/target-file.md)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import jsonschema

from harness.errors import TargetError
from harness.scenario.model import parse_duration
from harness.scenario.yamlfile import ScenarioErrors, YamlFileLoader

__all__ = ["Endpoint", "User", "Target", "Delivery", "DeliveryKind", "load_target", "target_from_mapping", "parse_hostport"]

_ENDPOINT = {
    "type": "object", "additionalProperties": False, "required": ["port"],
    "properties": {"host": {"type": "string"}, "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                   "tls": {"enum": ["none", "starttls", "implicit"]}},
}
_USER = {
    "type": "object", "additionalProperties": False, "required": ["address"],
    "properties": {"address": {"type": "string", "pattern": "^[^@\\s]+@[^@\\s]+$"},
                   "login": {"type": "string"}, "password": {"type": "string"},
                   "maildir": {"type": "string", "minLength": 1}},
}
_DELIVERY = {"anyOf": [
    {"enum": ["smtp", "existing"]},
    {"type": "object", "additionalProperties": False, "required": ["maildir"],
     "properties": {"maildir": {"type": "string", "minLength": 1}}},
]}
SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "smtp": _ENDPOINT, "pop3": _ENDPOINT, "smtps": _ENDPOINT, "pop3s": _ENDPOINT,
        "domain": {"type": "string"},
        "users": {"type": "array", "items": _USER},
        "smtp_auth": {"type": "object", "additionalProperties": False, "required": ["login", "password"],
                      "properties": {"login": {"type": "string"}, "password": {"type": "string"}}},
        "delivery": _DELIVERY,
        "delivery_timeout": {"anyOf": [{"type": "number", "minimum": 0},
                                       {"type": "string", "pattern": "^[0-9.]+(ms|s|m)?$"}]},
        "known_deviations": {"type": "array", "items": {"type": "string"}},
        "tls_verify": {"type": "boolean"},
        "client_name": {"type": "string"},
        "foreign_domain": {"type": "string"},
        "name": {"type": "string"},
    },
}


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int
    tls: str = "none"          # none | starttls | implicit

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "tls": self.tls}


@dataclass(frozen=True, slots=True)
class User:
    address: str
    login: str
    password: str
    maildir: str | None = None     # this mailbox's Maildir, for ``delivery: {maildir: ...}``

    def to_context(self) -> dict[str, str]:
        return {"address": self.address, "login": self.login, "password": self.password,
                "local": self.address.split("@", 1)[0], "domain": self.address.split("@", 1)[1]}


class DeliveryKind(str, enum.Enum):
    """How test messages get into the mailboxes that POP3 reads."""

    SMTP = "smtp"           # sent by SMTP, as any mail would be
    MAILDIR = "maildir"     # written into the Maildir the POP3 server reads (same host or a shared volume)
    EXISTING = "existing"   # none: only what is already in the maildrop is read, and never deleted


@dataclass(frozen=True, slots=True)
class Delivery:
    kind: DeliveryKind
    maildir: str | None = None      # a path pattern with {login} (and {address}, {local}, {domain})

    def maildir_of(self, user: User) -> Path:
        pattern = user.maildir or self.maildir
        if pattern is None:
            raise TargetError(f"delivery: maildir needs a path for {user.login} (delivery.maildir or users[].maildir)")
        local, _, domain = user.address.partition("@")
        return Path(pattern.format(login=user.login, address=user.address, local=local, domain=domain))

    def to_json(self) -> Any:
        return {"maildir": self.maildir} if self.kind is DeliveryKind.MAILDIR else self.kind.value


@dataclass(frozen=True, slots=True)
class Target:
    smtp: Endpoint | None = None
    pop3: Endpoint | None = None
    smtps: Endpoint | None = None
    pop3s: Endpoint | None = None
    domain: str = "example.test"
    users: tuple[User, ...] = ()
    smtp_auth: tuple[str, str] | None = None
    delivery_timeout: float = 10.0
    delivery: Delivery | None = None    # as the target file says; None: the default (see ``deliver_by``)
    known_deviations: frozenset[str] = frozenset()
    tls_verify: bool = False
    client_name: str = "client.mailharness.test"
    foreign_domain: str = "relay-probe.mailharness.invalid"
    name: str = ""
    source: str = ""

    @property
    def deliver_by(self) -> Delivery | None:
        """How test messages reach the mailboxes: as configured, else SMTP when both sides exist, else
        what is already there (a POP3-only target); None without POP3 (no mailbox can be read)."""
        if self.pop3 is None:
            return None
        if self.delivery is not None:
            return self.delivery
        return Delivery(DeliveryKind.SMTP if self.smtp else DeliveryKind.EXISTING)

    def secrets(self) -> list[str]:
        out = [u.password for u in self.users]
        if self.smtp_auth:
            out.append(self.smtp_auth[1])
        return out

    def endpoint(self, service: str) -> Endpoint | None:
        return {"smtp": self.smtp, "pop3": self.pop3, "smtps": self.smtps, "pop3s": self.pop3s}[service]

    def to_json(self) -> dict[str, Any]:
        """For results.json: passwords masked."""
        out: dict[str, Any] = {"name": self.name or self.source}
        for service in ("smtp", "pop3", "smtps", "pop3s"):
            ep = self.endpoint(service)
            if ep:
                out[service] = ep.to_json()
        out["domain"] = self.domain
        out["users"] = [{"address": u.address, "login": u.login, "password": "****"} for u in self.users]
        if self.smtp_auth:
            out["smtp_auth"] = {"login": self.smtp_auth[0], "password": "****"}
        out["delivery_timeout"] = self.delivery_timeout
        if self.deliver_by is not None:
            out["delivery"] = self.deliver_by.to_json()
        out["known_deviations"] = sorted(self.known_deviations)
        return out


def _endpoint(data: Mapping[str, Any] | None) -> Endpoint | None:
    if not data:
        return None
    return Endpoint(data.get("host", "127.0.0.1"), int(data["port"]), data.get("tls", "none"))


def _delivery(value: Any) -> Delivery | None:
    if isinstance(value, Mapping):
        return Delivery(DeliveryKind.MAILDIR, value["maildir"])
    return None if value is None else Delivery(DeliveryKind(value))


def target_from_mapping(data: Mapping[str, Any], source: str = "") -> Target:
    """Build a Target from an already-validated mapping (also used for the embedded server)."""
    users = tuple(User(u["address"], u.get("login", u["address"]), u.get("password", ""), u.get("maildir"))
                  for u in data.get("users", ()))
    auth = data.get("smtp_auth")
    return Target(
        smtp=_endpoint(data.get("smtp")), pop3=_endpoint(data.get("pop3")),
        smtps=_endpoint(data.get("smtps")), pop3s=_endpoint(data.get("pop3s")),
        domain=data.get("domain") or (users[0].address.split("@", 1)[1] if users else "example.test"),
        users=users, smtp_auth=(auth["login"], auth["password"]) if auth else None,
        delivery_timeout=parse_duration(data.get("delivery_timeout", 10)),
        delivery=_delivery(data.get("delivery")),
        known_deviations=frozenset(data.get("known_deviations", ())),
        tls_verify=bool(data.get("tls_verify", False)),
        client_name=data.get("client_name", "client.mailharness.test"),
        foreign_domain=data.get("foreign_domain", "relay-probe.mailharness.invalid"),
        name=data.get("name", ""), source=source,
    )


def load_target(path: Path | str) -> Target:
    """Parse and schema-check a target file; every problem is reported with file and line."""
    loader = YamlFileLoader(Path(path))
    data = loader.read_mapping("a target file must be a mapping (smtp:, pop3:, users: ...)")
    loader.schema_errors(jsonschema.Draft202012Validator(SCHEMA), data, [], data)
    if loader.errors:
        raise ScenarioErrors(loader.errors)
    return target_from_mapping(data, str(path))


def parse_hostport(value: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``HOST:PORT``, ``[::1]:PORT`` or ``PORT``."""
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = default_host, value
    try:
        number = int(port)
    except ValueError:
        raise TargetError(f"{value!r}: expected HOST:PORT") from None
    if not 0 < number < 65536:
        raise TargetError(f"{value!r}: port out of range")
    return host.strip("[]") or default_host, number


def with_overrides(target: Target, *, smtp: str | None = None, pop3: str | None = None,
                   users: list[str] | None = None, tls: str | None = None) -> Target:
    """Apply the CLI's ``--smtp/--pop3/--user/--tls`` on top of a target."""
    changes: dict[str, Any] = {}
    if smtp:
        host, port = parse_hostport(smtp)
        changes["smtp"] = Endpoint(host, port, tls or (target.smtp.tls if target.smtp else "none"))
    elif tls and target.smtp:
        changes["smtp"] = Endpoint(target.smtp.host, target.smtp.port, tls)
    if pop3:
        host, port = parse_hostport(pop3)
        changes["pop3"] = Endpoint(host, port, "implicit" if tls == "implicit" else "none")
    if users:
        parsed = []
        for spec in users:
            parts = spec.split(":")
            if len(parts) < 2:
                raise TargetError(f"--user {spec!r}: expected LOGIN:PASSWORD[:ADDRESS]")
            login, password = parts[0], parts[1]
            address = ":".join(parts[2:]) or (login if "@" in login else f"{login}@{target.domain}")
            parsed.append(User(address, login, password))
        changes["users"] = tuple(parsed)
    if not changes:
        return target
    fields = {name: getattr(target, name) for name in target.__slots__}  # type: ignore[attr-defined]
    fields.update(changes)
    return Target(**fields)
