# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: the registry probe's verdicts, decided from facts, not messages.

Everything here is pure: it takes what the probe saw on the wire (the first bytes a server answered, the
certificates it presented, an HTTP status) and the CAs the host trusts, and says which of the known
failures it is, with a one-line remedy. The certificate is judged by ``_x509``, which follows Go's
``crypto/tls`` and ``crypto/x509`` (and so ``dockerd``) step by step, so that the verdict is the failure the
daemon reports first, with the daemon's words in its detail. Every problem found is listed, not only the first.
"""

from __future__ import annotations

import dataclasses
import datetime

from ansible_collections.dockyard.registry.plugins.module_utils import _x509
from ansible_collections.dockyard.registry.plugins.module_utils._names import RegistryAddress

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
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
INVALID_CERTIFICATE = "invalid_certificate"

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
    INVALID_CERTIFICATE: "the certificate or a CA of its chain breaks another rule of the daemon's verifier: a CA "
                         "that may not sign, a path length, name constraints, the extended key usage, an unhandled "
                         "critical extension, a key size (Docker: x509: certificate is not authorized to sign other "
                         "certificates, too many intermediates for path length constraint, a root or intermediate "
                         "certificate is not authorized to sign for this name, certificate specifies an incompatible "
                         "key usage, unhandled critical extension)",
}
CERTIFICATE_VERDICTS = (EXPIRED, NOT_YET_VALID, HOSTNAME_MISMATCH, UNKNOWN_AUTHORITY, INVALID_CERTIFICATE)
# What Go refuses (_x509's reasons) -> the verdict; every other reason is an invalid certificate.
_VERDICT_OF_REASON = {_x509.EXPIRED: EXPIRED, _x509.NOT_YET_VALID: NOT_YET_VALID,
                      _x509.HOSTNAME: HOSTNAME_MISMATCH, _x509.UNKNOWN_AUTHORITY: UNKNOWN_AUTHORITY}

# What TLS servers answer when plain HTTP reaches them: Go's net/http (so Distribution itself), and nginx.
_HTTPS_PORT_ANSWERS = (b"Client sent an HTTP request to an HTTPS server", b"The plain HTTP request was sent to HTTPS port")


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
        "not_before": _x509.not_before(certificate).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "not_after": _x509.not_after(certificate).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "serial_number": f"{certificate.serial_number:x}",
        "sha256_fingerprint": certificate.fingerprint(hashes.SHA256()).hex(":"),
    }


@dataclasses.dataclass(frozen=True)
class Problem:
    verdict: str
    detail: str
    fix: str = ""  # what to do, where the verdict's usual remedy does not fit


def certificate_problems(leaf, intermediates, anchors, host: str, now: datetime.datetime,
                         rules: _x509.GoRules = _x509.NEWEST) -> list[Problem]:
    """Every problem the daemon (Go ``rules``) would find with the certificate the registry presented, in its order.

    The first is what the daemon reports, and the probe's verdict; each detail ends with the daemon's words.
    """
    return [Problem(_VERDICT_OF_REASON.get(failure.reason, INVALID_CERTIFICATE),
                    f"{failure.explanation} ({failure.message})", failure.fix)
            for failure in _x509.verify(leaf, intermediates, anchors, host, now, rules)]


# Remedies


def remedy(verdict: str, address: RegistryAddress, certs_dir: str = "", certificate: dict | None = None,
           timeout: float | None = None, fix: str = "") -> str:
    """One line that says what to do about ``verdict`` for the registry at ``address`` (``fix``, where given)."""
    if fix:
        return f"{fix} The certificates the dockyard.registry.site playbook issues pass every check of the daemon."
    name = address.name
    cert = certificate or {}
    sans = ", ".join(cert.get("sans") or []) or "none"
    remedies = {
        OK: "",
        UNKNOWN_AUTHORITY: f"Put the CA that signed the registry's certificate (issuer {cert.get('issuer', '?')}) in "
                           f"{certs_dir}/ca.crt on this host (the dockyard.registry.trust playbook does), or reissue the certificate "
                           "from the CA that is there.",
        HOSTNAME_MISMATCH: f"Reissue the registry's certificate with {address.host} among its subject alternative "
                           f"names (add it to registry_names and run the dockyard.registry.site playbook), or address the registry by "
                           f"a name it has: {sans}.",
        EXPIRED: f"Renew the registry's certificate (valid until {cert.get('not_after', '?')}): the dockyard.registry.site playbook "
                 "issues a new one and restarts the registry with it.",
        NOT_YET_VALID: f"The certificate is valid only from {cert.get('not_before', '?')}: fix the clock of this host "
                       "or of the machine that issued it (NTP), then reissue it if its dates are wrong.",
        PLAIN_HTTP_PORT: f"{name} serves plain HTTP: serve TLS there (the registry's http.tls settings, as "
                         "the dockyard.registry.server playbook does), or, for a registry that must stay plain, list it in the "
                         "daemon's insecure-registries.",
        HTTPS_EXPECTED: f"{name} serves TLS: reach it over HTTPS (drop http:// and its insecure-registries entry) and "
                        f"put its CA in /etc/docker/certs.d/{name}/ca.crt.",
        CONNECTION_REFUSED: f"Nothing listens on {name}: start the registry (the dockyard.registry.server playbook) or correct the port, "
                            "and check that no firewall rejects the connection.",
        TIMEOUT: f"{name} did not answer within {timeout:g} seconds: check firewalls and routes between this host "
                 "and the registry, and that the port belongs to the registry." if timeout is not None else
                 f"{name} did not answer in time: check firewalls and routes, and that the port belongs to the "
                 "registry.",
        AUTH_REQUIRED: f"The registry needs credentials: run docker login {name} on this host (for the user that "
                       "pulls; the dockyard.registry.trust playbook does with registry_users), or allow anonymous reads.",
        AUTH_REFUSED: f"The password stored for {name} on this host is wrong or its account is gone: log in again "
                      f"(docker login {name}, or the dockyard.registry.trust playbook with the account in registry_users).",
        UNRESOLVED: f"{address.host} does not resolve on this host: fix DNS or /etc/hosts, or address the registry "
                    "by an IP address its certificate names.",
        UNREACHABLE: f"{address.host} cannot be reached from this host: check its routes and the registry host's "
                     "network.",
        TLS_ERROR: f"The TLS handshake with {name} failed: check that the port belongs to the registry and that its "
                   f"TLS settings accept TLS 1.2 or later (and, if it wants one, a client certificate in "
                   f"{certs_dir}).",
        NOT_A_REGISTRY: f"{name} is not a Docker registry (its /v2/ does not answer like one): check the port and "
                        "any proxy in front of it.",
        INVALID_CERTIFICATE: "Reissue the registry's certificate, or the CA named in the detail, so that the daemon "
                             "accepts it; the certificates the dockyard.registry.site playbook issues do.",
    }
    return remedies[verdict]
