# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: the registry probe's verdicts, decided from facts, not messages.

Everything here is pure: it takes what the probe saw on the wire (the first bytes a server answered, the
certificates it presented, an HTTP status) and the CAs the host trusts, and says which of the known
failures it is, with a one-line remedy. The certificate is judged the way Go's ``crypto/x509`` (and so
``dockerd``) judges it, in the same order, so that the verdict is the failure the daemon reports first:
validity dates, then the name the registry was addressed by against the SANs (never the common name),
then the chain to a trusted CA. Every problem found is listed, not only the first.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
from urllib.parse import urlsplit

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
    from cryptography.x509.oid import NameOID
except ImportError:  # the module reports it with missing_required_lib
    x509 = None

OK = "ok"
UNKNOWN_AUTHORITY = "unknown_authority"
HOSTNAME_MISMATCH = "hostname_mismatch"
EXPIRED = "expired"
NOT_YET_VALID = "not_yet_valid"
PLAIN_HTTP_PORT = "plain_http_port"
HTTPS_EXPECTED = "https_expected"
CONNECTION_REFUSED = "connection_refused"
TIMEOUT = "timeout"
AUTH_REQUIRED = "auth_required"
AUTH_REFUSED = "auth_refused"
UNRESOLVED = "unresolved"
UNREACHABLE = "unreachable"
TLS_ERROR = "tls_error"
NOT_A_REGISTRY = "not_a_registry"

# Verdict -> what it means, in one line. The module's documentation lists the same.
SUMMARIES = {
    OK: "the registry answers /v2/ over a connection the Docker daemon would accept",
    UNKNOWN_AUTHORITY: "the certificate is not signed by a CA this host trusts for the registry "
                       "(Docker: x509: certificate signed by unknown authority)",
    HOSTNAME_MISMATCH: "the certificate does not name the address the registry was reached by "
                       "(Docker: x509: certificate is valid for …, not … / doesn't contain any IP SANs)",
    EXPIRED: "the certificate has expired (Docker: x509: certificate has expired or is not yet valid)",
    NOT_YET_VALID: "the certificate is not valid yet (Docker: x509: certificate has expired or is not yet valid)",
    PLAIN_HTTP_PORT: "the port answers plain HTTP to a TLS handshake (Docker: http: server gave HTTP response to "
                     "HTTPS client; older Docker: tls: oversized record received)",
    HTTPS_EXPECTED: "plain HTTP reached a port that expects TLS (the server answers: Client sent an HTTP request to "
                    "an HTTPS server)",
    CONNECTION_REFUSED: "nothing listens on the port (Docker: connect: connection refused)",
    TIMEOUT: "no answer in time (Docker: i/o timeout, TLS handshake timeout)",
    AUTH_REQUIRED: "the registry answers 401 to anonymous requests: it needs credentials",
    AUTH_REFUSED: "the registry refused the credentials stored for it (Docker: unauthorized: authentication required)",
    UNRESOLVED: "the registry's host name does not resolve (Docker: no such host)",
    UNREACHABLE: "the registry's address cannot be reached (no route, network unreachable)",
    TLS_ERROR: "the TLS handshake failed for a reason other than the certificate",
    NOT_A_REGISTRY: "the server speaks HTTP(S) but /v2/ does not answer like a registry",
}
VERDICTS = tuple(SUMMARIES)
CERTIFICATE_VERDICTS = (EXPIRED, NOT_YET_VALID, HOSTNAME_MISMATCH, UNKNOWN_AUTHORITY)

# What TLS servers answer when plain HTTP reaches them: Go's net/http (so Distribution itself), and nginx.
_HTTPS_PORT_ANSWERS = (b"Client sent an HTTP request to an HTTPS server", b"The plain HTTP request was sent to HTTPS port")


class AddressError(ValueError):
    """The registry option is not ``[http://|https://]host[:port]``."""


@dataclasses.dataclass(frozen=True)
class RegistryAddress:
    """Where to probe, and the name Docker gives it (certs.d directory and image references)."""

    scheme: str
    host: str
    port: int
    name: str  # host:port as in image references; host alone for 443, as Docker writes it

    @property
    def is_ip(self) -> bool:
        return _ip(self.host) is not None

    @property
    def is_loopback(self) -> bool:
        address = _ip(self.host)
        return address.is_loopback if address else self.host == "localhost"


def parse_address(value: str) -> RegistryAddress:
    """``host:port``, ``[v6]:port`` or ``host`` (port 443), optionally behind ``https://`` or ``http://``."""
    if not isinstance(value, str) or not value.strip():
        raise AddressError("registry: give the registry's address as host:port, for example registry.example.com:5000")
    text = value.strip()
    scheme = "https"
    if "://" in text:
        scheme, _sep, text = text.partition("://")
        scheme = scheme.lower()
        if scheme not in ("http", "https"):
            raise AddressError(f"registry: {value!r}: the scheme may only be https:// (the default) or http://")
    if not text or any(char in text for char in "/?#@ "):
        raise AddressError(f"registry: {value!r} is not host:port; give the address without a path, "
                           "for example registry.example.com:5000")
    try:
        split = urlsplit(f"//{text}")
        port = split.port
    except ValueError as exc:
        raise AddressError(f"registry: {value!r}: {exc}") from None
    host = split.hostname
    if not host:
        raise AddressError(f"registry: {value!r} has no host")
    port = port or (443 if scheme == "https" else 80)
    shown = f"[{host}]" if ":" in host else host
    name = shown if port == 443 and split.port is None else f"{shown}:{port}"
    return RegistryAddress(scheme, host, port, name)


def _ip(host: str):
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


# What the server answered


def http_verdict(status: int, headers: dict, body: bytes, scheme: str) -> str:
    """The verdict for the answer to ``GET /v2/``: 200 from a registry, 401, or something else."""
    names = {key.lower() for key in headers}
    if scheme == "http" and status == 400 and any(answer in body for answer in _HTTPS_PORT_ANSWERS):
        return HTTPS_EXPECTED
    if status == 401:
        return AUTH_REQUIRED
    if status == 200 and "docker-distribution-api-version" in names:
        return OK
    return NOT_A_REGISTRY


# Certificates


def _utc(value: datetime.datetime) -> datetime.datetime:
    return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)


def not_before(certificate) -> datetime.datetime:
    return _utc(getattr(certificate, "not_valid_before_utc", None) or certificate.not_valid_before)


def not_after(certificate) -> datetime.datetime:
    return _utc(getattr(certificate, "not_valid_after_utc", None) or certificate.not_valid_after)


def subject_alternative_names(certificate) -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses) of the certificate's SAN extension; both empty without one."""
    try:
        sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    return list(sans.get_values_for_type(x509.DNSName)), [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)]


def describe(certificate) -> dict:
    """The certificate as the probe returns it."""
    dns_names, ips = subject_alternative_names(certificate)
    return {
        "subject": certificate.subject.rfc4514_string(),
        "issuer": certificate.issuer.rfc4514_string(),
        "sans": dns_names + ips,
        "not_before": not_before(certificate).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "not_after": not_after(certificate).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "serial_number": f"{certificate.serial_number:x}",
        "sha256_fingerprint": certificate.fingerprint(hashes.SHA256()).hex(":"),
    }


def _common_name(name) -> str:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else name.rfc4514_string()


def name_matches(host: str, certificate) -> bool:
    """Whether ``host`` is among the certificate's SANs, as Go matches it.

    An IP address must be an IP SAN (a DNS SAN spelling the address does not count); a name is compared
    case-insensitively, and ``*.example.com`` covers exactly one more label. The common name is ignored,
    as Go has ignored it since 1.15.
    """
    dns_names, ips = subject_alternative_names(certificate)
    address = _ip(host)
    if address is not None:
        return any(_ip(ip) == address for ip in ips)
    wanted = host.rstrip(".").lower()
    for pattern in (name.rstrip(".").lower() for name in dns_names):
        if pattern == wanted:
            return True
        label, _dot, parent = wanted.partition(".")
        if pattern.startswith("*.") and label and parent == pattern[2:]:
            return True
    return False


def _is_ca(certificate) -> bool:
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return certificate.version == x509.Version.v1  # v1 certificates predate the extension


def _signed_by(certificate, issuer) -> bool:
    if certificate.issuer != issuer.subject:
        return False
    try:
        if hasattr(certificate, "verify_directly_issued_by"):  # cryptography 40 and later
            certificate.verify_directly_issued_by(issuer)
        else:
            verify_signature(certificate, issuer.public_key())
    except (InvalidSignature, ValueError, TypeError):  # TypeError: a key type that cannot sign: not this issuer
        return False
    return True


def verify_signature(certificate, public_key) -> None:
    """Raise InvalidSignature unless ``public_key`` signed ``certificate`` (for cryptography before 40)."""
    data, signature = certificate.tbs_certificate_bytes, certificate.signature
    if isinstance(public_key, rsa.RSAPublicKey):
        public_key.verify(signature, data, padding.PKCS1v15(), certificate.signature_hash_algorithm)
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(signature, data, ec.ECDSA(certificate.signature_hash_algorithm))
    elif isinstance(public_key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        public_key.verify(signature, data)
    else:
        raise TypeError(f"cannot verify a signature with a {type(public_key).__name__}")


def chain_to_anchor(leaf, intermediates, anchors, max_depth: int = 8) -> list | None:
    """The path from ``leaf`` up to a trusted CA (leaf first, the CA last), through ``intermediates``; or None.

    An anchor is any certificate of the trusted bundle, as in Go's root pool; an intermediate must be a CA.
    A leaf that is itself in the bundle is a path of one.
    """
    trusted = {anchor.fingerprint(hashes.SHA256()) for anchor in anchors}
    path = [leaf]
    for _depth in range(max_depth):
        current = path[-1]
        if current.fingerprint(hashes.SHA256()) in trusted:
            return path
        anchor = next((candidate for candidate in anchors if _signed_by(current, candidate)), None)
        if anchor is not None:
            return [*path, anchor]
        seen = {certificate.fingerprint(hashes.SHA256()) for certificate in path}
        issuer = next((candidate for candidate in intermediates
                       if candidate.fingerprint(hashes.SHA256()) not in seen and _is_ca(candidate)
                       and _signed_by(current, candidate)), None)
        if issuer is None:
            return None
        path.append(issuer)
    return None


@dataclasses.dataclass(frozen=True)
class Problem:
    verdict: str
    detail: str


def certificate_problems(leaf, intermediates, anchors, host: str, now: datetime.datetime) -> list[Problem]:
    """Every problem the daemon would find with the certificate the registry presented, in the daemon's order.

    Go checks the leaf's validity dates first, then the name, then the chain (where a CA outside its dates
    cannot serve); the first problem is what the daemon reports, and the probe's verdict.
    """
    problems = []
    now = _utc(now)
    if now > not_after(leaf):
        problems.append(Problem(EXPIRED, f"the certificate expired at {not_after(leaf):%Y-%m-%dT%H:%M:%SZ}"))
    elif now < not_before(leaf):
        problems.append(Problem(NOT_YET_VALID, f"the certificate is valid only from {not_before(leaf):%Y-%m-%dT%H:%M:%SZ}"))
    if not name_matches(host, leaf):
        dns_names, ips = subject_alternative_names(leaf)
        if _ip(host) is not None:
            has = f"its IP SANs are {', '.join(ips)}" if ips else "it has no IP SANs"
        else:
            has = f"its DNS SANs are {', '.join(dns_names)}" if dns_names else "it has no DNS SANs"
        problems.append(Problem(HOSTNAME_MISMATCH, f"the certificate does not name {host}: {has}"))
    path = chain_to_anchor(leaf, intermediates, anchors)
    if path is None:
        problems.append(Problem(UNKNOWN_AUTHORITY, f"the certificate's issuer {_common_name(leaf.issuer)!r} is "
                                                   "neither a trusted CA nor signed by one"))
    else:
        for authority in path[1:]:
            if not not_before(authority) <= now <= not_after(authority):
                problems.append(Problem(UNKNOWN_AUTHORITY, (
                    f"the CA {_common_name(authority.subject)!r} that signed it is valid only from "
                    f"{not_before(authority):%Y-%m-%dT%H:%M:%SZ} to {not_after(authority):%Y-%m-%dT%H:%M:%SZ}")))
                break
    return _ordered(problems)


def _ordered(problems: list[Problem]) -> list[Problem]:
    order = {verdict: number for number, verdict in enumerate(CERTIFICATE_VERDICTS)}
    return sorted(problems, key=lambda problem: order[problem.verdict])


# Remedies


def remedy(verdict: str, address: RegistryAddress, certs_dir: str = "", certificate: dict | None = None,
           timeout: float | None = None) -> str:
    """One line that says what to do about ``verdict`` for the registry at ``address``."""
    name = address.name
    cert = certificate or {}
    sans = ", ".join(cert.get("sans") or []) or "none"
    remedies = {
        OK: "",
        UNKNOWN_AUTHORITY: f"Put the CA that signed the registry's certificate (issuer {cert.get('issuer', '?')}) in "
                           f"{certs_dir}/ca.crt on this host (playbooks/trust.yml does), or reissue the certificate "
                           "from the CA that is there.",
        HOSTNAME_MISMATCH: f"Reissue the registry's certificate with {address.host} among its subject alternative "
                           f"names (add it to registry_names and run playbooks/site.yml), or address the registry by "
                           f"a name it has: {sans}.",
        EXPIRED: f"Renew the registry's certificate (valid until {cert.get('not_after', '?')}): playbooks/site.yml "
                 "issues a new one and restarts the registry with it.",
        NOT_YET_VALID: f"The certificate is valid only from {cert.get('not_before', '?')}: fix the clock of this host "
                       "or of the machine that issued it (NTP), then reissue it if its dates are wrong.",
        PLAIN_HTTP_PORT: f"{name} serves plain HTTP: serve TLS there (the registry's http.tls settings, as "
                         "playbooks/server.yml does), or, for a registry that must stay plain, list it in the "
                         "daemon's insecure-registries.",
        HTTPS_EXPECTED: f"{name} serves TLS: reach it over HTTPS (drop http:// and its insecure-registries entry) and "
                        f"put its CA in /etc/docker/certs.d/{name}/ca.crt.",
        CONNECTION_REFUSED: f"Nothing listens on {name}: start the registry (playbooks/server.yml) or correct the port, "
                            "and check that no firewall rejects the connection.",
        TIMEOUT: f"{name} did not answer within {timeout:g} seconds: check firewalls and routes between this host "
                 "and the registry, and that the port belongs to the registry." if timeout is not None else
                 f"{name} did not answer in time: check firewalls and routes, and that the port belongs to the "
                 "registry.",
        AUTH_REQUIRED: f"The registry needs credentials: run docker login {name} on this host (for the user that "
                       "pulls; playbooks/trust.yml does with registry_users), or allow anonymous reads.",
        AUTH_REFUSED: f"The password stored for {name} on this host is wrong or its account is gone: log in again "
                      f"(docker login {name}, or playbooks/trust.yml with the account in registry_users).",
        UNRESOLVED: f"{address.host} does not resolve on this host: fix DNS or /etc/hosts, or address the registry "
                    "by an IP address its certificate names.",
        UNREACHABLE: f"{address.host} cannot be reached from this host: check its routes and the registry host's "
                     "network.",
        TLS_ERROR: f"The TLS handshake with {name} failed: check that the port belongs to the registry and that its "
                   f"TLS settings accept TLS 1.2 or later (and, if it wants one, a client certificate in "
                   f"{certs_dir}).",
        NOT_A_REGISTRY: f"{name} is not a Docker registry (its /v2/ does not answer like one): check the port and "
                        "any proxy in front of it.",
    }
    return remedies[verdict]
