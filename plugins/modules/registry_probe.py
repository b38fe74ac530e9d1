# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_probe
short_description: Tell whether this Docker host can reach a registry, and if not, which known failure it is
version_added: 0.1.0
description:
  - Connects to a registry from the host it runs on the way the Docker daemon there would, and returns a verdict
    in RV(status) with a one-line RV(remedy), instead of the daemon's error message.
  - Over TLS it trusts what the daemon trusts for the address, the system roots and every C(*.crt) in
    C(/etc/docker/certs.d/<host:port>/), presents the C(*.cert)/C(*.key) pair found there, sends the host name as
    SNI (none for an IP address, as Go does), and asks TLS 1.2 or later. C(REQUESTS_CA_BUNDLE) and proxy variables
    are ignored, as the daemon ignores them.
  - It completes the TLS handshake without verification, then judges the certificate itself, following Go's
    C(crypto/tls) and C(crypto/x509) step by step, so that RV(status) is the failure the daemon reports first and
    RV(detail) ends with the daemon's own words. Every certificate the server sent must be one Go reads; the leaf
    must have no critical extension Go does not handle and be inside its dates; the address must be among its
    subject alternative names (never the common name; an IP address must be an IP SAN); a chain must lead to a
    trusted CA through the intermediates the server sent, each issuer a CA (CA:TRUE, keyCertSign if it has a key
    usage) whose signature algorithm Go accepts (no MD5, no SHA-1), each CA inside its dates, within its path
    length and name constraints; every certificate of the chain that lists extended key usages must list server
    authentication. RV(problems) lists every certificate problem found, not only the first.
  - Where Go versions differ (SHA-1 signatures are refused from Go 1.18 on, RSA keys under 1024 bits from Go 1.24 on,
    RSA keys over 8192 bits from Go 1.19.12, 1.20.7 and 1.21 on), the probe applies the rules of the Go that built
    the C(dockerd) running on the host, read from the binary's build information with its C(GODEBUG) settings (see
    RV(daemon_go)); where it cannot read one, the rules of the newest Go.
  - Then it asks C(GET /v2/), with the credentials C(docker login) stored for the registry on this host (or
    O(username) and O(password)) when it has some and speaks HTTPS, as an anonymous client otherwise; a password
    never goes over plain HTTP.
  - "The verdicts: V(ok); V(unknown_authority) (Docker: C(x509: certificate signed by unknown authority));
    V(hostname_mismatch) (Docker: C(x509: certificate is valid for ..., not ...) or C(cannot validate certificate
    for <IP> because it doesn't contain any IP SANs)); V(expired) and V(not_yet_valid) (Docker: C(x509: certificate
    has expired or is not yet valid)); V(plain_http_port), the port answers plain HTTP to a TLS handshake;
    V(https_expected), plain HTTP reached a port that speaks TLS; V(connection_refused); V(timeout);
    V(auth_required), C(/v2/) answers 401 to anonymous requests; V(auth_refused), it answers 401 to the
    credentials sent (Docker: C(unauthorized: authentication required)). Beyond those: V(unresolved) (the name does not
    resolve), V(unreachable) (no route), V(tls_error) (the handshake failed for another reason, for example the
    server insists on a client certificate or an old protocol), V(not_a_registry) (C(/v2/) answers, but not like a
    registry, or the port speaks neither TLS nor HTTP), V(invalid_certificate) (the certificate or a CA of its chain
    breaks another rule of the daemon's verifier: Docker C(x509: certificate is not authorized to sign other
    certificates), C(too many intermediates for path length constraint), C(a root or intermediate certificate is not
    authorized to sign for this name), C(certificate specifies an incompatible key usage), C(unhandled critical
    extension), and the key size limits). A signature the daemon refuses, such as SHA-1 or one by a certificate
    that is not a CA, is V(unknown_authority), as the daemon words it; a CA outside its dates is V(expired) or
    V(not_yet_valid)."
  - "Which Docker message belongs to which verdict: a daemon that speaks TLS to a plain-HTTP registry, the usual
    mistake, reports C(http: server gave HTTP response to HTTPS client) (Docker 20.10, built with Go 1.19, does;
    daemons built with older Go versions, and some proxies, report C(tls: oversized record received with length
    20527) for the same thing). Both are V(plain_http_port). V(https_expected) is the opposite situation: something speaks plain HTTP to a TLS port, as
    the daemon does for a registry it reaches over C(http://), such as a registry mirror written with C(http://) or
    an C(insecure-registries) entry whose HTTPS attempt failed. The probe speaks plain HTTP when O(registry) starts
    with C(http://); the server then answers C(400 Client sent an HTTP request to an HTTPS server)."
  - The module never fails because of a verdict, so that a playbook can assert on RV(status); it fails only on
    unusable options, a C(certs.d) directory the daemon would reject, or a missing Python library.
  - Docker treats registries on loopback addresses (127.0.0.0/8, C(::1), C(localhost)) as insecure and checks
    nothing there; the probe judges them strictly all the same and warns.
author:
  - dockyard maintainers (@dockyard)
requirements:
  - C(cryptography) 38 or newer on the host, to read the certificate and check its chain (Debian 12's
    C(python3-cryptography) will do).
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details:
      - The probe changes nothing; in check mode it probes all the same and returns the same verdict.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: none
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
      - This assumes that the system controlled/queried by the module has not changed in a relevant way.
    support: full
options:
  registry:
    description:
      - The registry's address as Docker hosts write it in image references, V(host:port) (V([v6 address]:port)
        for IPv6), for example V(registry.example.com:5000). Without a port, 443, and the certs.d directory is
        C(/etc/docker/certs.d/<host>/), as for Docker.
      - A V(http://) prefix probes over plain HTTP, the way the daemon talks to a registry it reaches over
        C(http://); V(https://), the default, over TLS.
    type: str
    required: true
  ca_path:
    description:
      - A PEM file with the CA certificates to trust, in place of the system roots and the C(*.crt) files in
        C(/etc/docker/certs.d/<host:port>/). The Docker daemon does not read it, so with it the probe no longer
        answers for the daemon.
    type: path
  timeout:
    description:
      - Seconds to wait for the TCP connection, for the TLS handshake, and for the answer to C(GET /v2/), each.
      - V(timeout) is the verdict when one of them takes longer.
    type: int
    default: 10
  username:
    description:
      - Account to probe with. Not given, the probe uses what C(docker login) stored for O(registry) in the Docker
        client configuration of the user it runs as (C(~/.docker/config.json) or the credential helper it names),
        as the daemon client would; without one it asks anonymously.
      - Sent as HTTP Basic auth over TLS only.
    type: str
  password:
    description:
      - Password of O(username). Required with it.
    type: str
seealso:
  - module: dockyard.registry.registry_image
  - name: Docker's certs.d
    description: How the Docker daemon finds the CA and client certificate for a registry.
    link: https://docs.docker.com/engine/security/certificates/
"""

EXAMPLES = r"""
- name: Probe the registry the way this host's Docker daemon would reach it
  dockyard.registry.registry_probe:
    registry: registry.example.com:5000
  register: _registry_probe

- name: Fail with the remedy when the daemon could not use the registry
  ansible.builtin.assert:
    that: _registry_probe.status == 'ok'
    fail_msg: "{{ _registry_probe.status }}: {{ _registry_probe.detail }}. {{ _registry_probe.remedy }}"
    quiet: true

- name: Accept a registry that only wants credentials (docker login is done elsewhere)
  dockyard.registry.registry_probe:
    registry: registry.example.com:5000
  register: _registry_probe
  failed_when: _registry_probe.status not in ['ok', 'auth_required']

- name: Tell whether a mirror written as http:// in daemon.json really serves plain HTTP
  dockyard.registry.registry_probe:
    registry: http://mirror.example.com:5000
    timeout: 5
"""

RETURN = r"""
status:
  description:
    - The verdict, see the description. V(ok) means the daemon on this host could use the registry as it is.
  returned: always
  type: str
  choices: [ok, unknown_authority, hostname_mismatch, expired, not_yet_valid, plain_http_port, https_expected,
            connection_refused, timeout, auth_required, auth_refused, unresolved, unreachable, tls_error,
            not_a_registry, invalid_certificate]
  sample: unknown_authority
summary:
  description: What RV(status) means, in one line, with the message Docker prints for it.
  returned: always
  type: str
  sample: "the certificate is not signed by a CA this host trusts for the registry (Docker: x509: certificate
    signed by unknown authority)"
detail:
  description:
    - What the probe saw that led to the verdict, in one line. For a certificate problem, each problem's
      explanation ends with what the daemon says about it, in parentheses.
  returned: always
  type: str
  sample: "the certificate's issuer 'other CA' is neither a trusted CA nor signed by one (x509: certificate signed by
    unknown authority)"
remedy:
  description: What to do about it, in one line. Empty for V(ok).
  returned: always
  type: str
  sample: "Put the CA that signed the registry's certificate (issuer CN=other CA) in
    /etc/docker/certs.d/192.0.2.10:5000/ca.crt on this host (playbooks/trust.yml does), or reissue the
    certificate from the CA that is there."
problems:
  description:
    - Every certificate problem found, in the order the Docker daemon checks; the first is RV(status).
    - Empty when the certificate is fine or there is none.
  returned: always
  type: list
  elements: str
  sample: [expired, unknown_authority]
registry:
  description: The registry's name as in image references and certs.d (V(host:port), V(host) for port 443).
  returned: always
  type: str
  sample: 192.0.2.10:5000
url:
  description: The URL the probe asked.
  returned: always
  type: str
  sample: https://192.0.2.10:5000/v2/
daemon_go:
  description:
    - The Go whose rules the certificate was judged by, and where that came from (the C(dockerd) binary of the host,
      its build information and C(GODEBUG) settings), or why the newest Go's rules were applied.
  returned: when the probe speaks TLS
  type: str
  sample: Go 1.19.8, read from /usr/sbin/dockerd
trusted_cas:
  description: Which CAs the probe trusted, as files.
  returned: when the probe speaks TLS
  type: str
  sample: the system roots and /etc/docker/certs.d/192.0.2.10:5000/ca.crt
credentials:
  description: Whose credentials the probe sent, and where they came from (never the password).
  returned: when the probe sent credentials
  type: str
  sample: user ci from the Docker login stored in /root/.docker/config.json
http_status:
  description: The status of the answer to C(GET /v2/).
  returned: when an HTTP answer came
  type: int
  sample: 200
certificate:
  description: The certificate the registry presented.
  returned: when the TLS handshake completed
  type: dict
  contains:
    subject:
      description: Its subject, RFC 4514.
      type: str
      sample: CN=registry.example.com
    issuer:
      description: Its issuer, RFC 4514.
      type: str
      sample: CN=dockyard registry CA
    sans:
      description: Its subject alternative names, DNS names first, then IP addresses.
      type: list
      elements: str
      sample: [registry.example.com, 192.0.2.10]
    not_before:
      description: Start of its validity, UTC, ISO 8601.
      type: str
      sample: "2026-11-27T21:00:00Z"
    not_after:
      description: End of its validity, UTC, ISO 8601.
      type: str
      sample: "2027-12-29T21:00:00Z"
    serial_number:
      description: Its serial number, hexadecimal.
      type: str
    sha256_fingerprint:
      description: The SHA-256 of its DER encoding, colon-separated hexadecimal.
      type: str
"""

import datetime
import mmap
import os
import re
import shutil
import socket
import ssl
import traceback
import warnings
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.dockyard.registry.plugins.module_utils._probe import (
    AUTH_REFUSED,
    AUTH_REQUIRED,
    CONNECTION_REFUSED,
    HTTPS_EXPECTED,
    NOT_A_REGISTRY,
    OK,
    PLAIN_HTTP_PORT,
    SUMMARIES,
    TIMEOUT,
    TLS_ERROR,
    UNKNOWN_AUTHORITY,
    UNREACHABLE,
    UNRESOLVED,
    AddressError,
    RegistryAddress,
    certificate_problems,
    describe,
    first_bytes_kind,
    first_line,
    http_verdict,
    parse_address,
    remedy,
)
from ansible_collections.dockyard.registry.plugins.module_utils._registry_client import (
    Credentials,
    Trust,
    TrustConfigError,
    registry_connection_argument_spec,
    registry_connection_requirements,
    registry_credentials,
    system_ca_bundle,
)
from ansible_collections.dockyard.registry.plugins.module_utils._x509 import NEWEST, GoRules, go_build_info

try:
    from cryptography import x509
except ImportError:
    x509 = None
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()
else:
    CRYPTOGRAPHY_IMPORT_ERROR = None

PROBE_TIMEOUT = 10
MAX_ANSWER = 65536  # of the answer to GET /v2/: the status line and headers are what count
RECEIVE_SIZE = 16384
ENCODING_DER = 2  # _ssl.ENCODING_DER, for the certificates of Python < 3.13's private chain accessor
# OpenSSL's X509_V_ERR_CERT_NOT_YET_VALID and X509_V_ERR_CERT_HAS_EXPIRED: reported only once a chain was built.
OPENSSL_DATE_ERRORS = (9, 10)
DOCKER_PID_FILE = Path("/var/run/docker.pid")
DOCKERD_DIRECTORIES = ("/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin")
PEM_CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL)


class Verdict(Exception):
    """Raised where the probe knows the answer: ``status`` and what it saw."""

    def __init__(self, status: str, detail: str, fix: str = "") -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.fix = fix


class RegistryProbe:
    """One probe of one registry address; :meth:`run` returns the module's result."""

    def __init__(self, address: RegistryAddress, trust: Trust | None, timeout: int,
                 credentials: Credentials | None = None, daemon: tuple[GoRules, str] = (NEWEST, "")) -> None:
        self.address = address
        self.rules = daemon[0]
        self.trust = trust
        self.timeout = timeout
        # Basic auth over TLS only: over plain HTTP the probe asks anonymously rather than leak the password.
        self.credentials = credentials if address.scheme == "https" else None
        self.result = {
            "changed": False,
            "registry": address.name,
            "url": f"{address.scheme}://{address.name}/v2/",
            "problems": [],
        }
        if trust is not None:
            self.result["trusted_cas"] = trust.source
            self.result["daemon_go"] = daemon[1] or self.rules.name
        if self.credentials is not None:
            self.result["credentials"] = f"user {self.credentials.username} from {self.credentials.source}"

    def run(self) -> dict:
        try:
            self._probe()
            verdict = Verdict(NOT_A_REGISTRY, "the probe reached no verdict")  # _judge_answer always decides
        except Verdict as reached:
            verdict = reached
        self.result.update(status=verdict.status, detail=verdict.detail, summary=SUMMARIES[verdict.status])
        self.result["remedy"] = remedy(verdict.status, self.address, str(self.trust.certs_dir) if self.trust else "",
                                       self.result.get("certificate"), self.timeout, verdict.fix)
        return self.result

    def _probe(self) -> None:
        sock = self._connect()
        try:
            if self.address.scheme == "http":
                answer = self._exchange_plain(sock)
            else:
                answer = self._exchange_tls(sock)
        finally:
            sock.close()
        self._judge_answer(answer)

    # TCP

    def _connect(self) -> socket.socket:
        where = self.address.name
        try:
            return socket.create_connection((self.address.host, self.address.port), timeout=self.timeout)
        except socket.gaierror as exc:
            raise Verdict(UNRESOLVED, f"{self.address.host} does not resolve: {exc.strerror}") from None
        except socket.timeout:
            raise Verdict(TIMEOUT, f"no TCP connection to {where} within {self.timeout} seconds") from None
        except ConnectionRefusedError:
            raise Verdict(CONNECTION_REFUSED, f"{where} refused the TCP connection") from None
        except OSError as exc:
            raise Verdict(UNREACHABLE, f"no TCP connection to {where}: {exc.strerror or exc}") from None

    def _receive(self, sock: socket.socket, during: str) -> bytes:
        try:
            return sock.recv(RECEIVE_SIZE)
        except socket.timeout:
            raise Verdict(TIMEOUT, f"{self.address.name} accepted the connection but sent nothing for "
                                   f"{self.timeout} seconds {during}") from None
        except ConnectionResetError:
            raise Verdict(TLS_ERROR if self.address.scheme == "https" else NOT_A_REGISTRY,
                          f"{self.address.name} reset the connection {during}") from None

    def _request(self) -> bytes:
        authorization = f"Authorization: {self.credentials.basic}\r\n" if self.credentials else ""
        return (f"GET /v2/ HTTP/1.1\r\nHost: {self.address.name}\r\nUser-Agent: dockyard.registry registry_probe\r\n"
                f"Accept: application/json\r\n{authorization}Connection: close\r\n\r\n").encode("ascii")

    # Plain HTTP

    def _exchange_plain(self, sock: socket.socket) -> bytes:
        try:
            sock.sendall(self._request())
        except OSError as exc:
            raise Verdict(NOT_A_REGISTRY, f"{self.address.name} closed the connection: {exc.strerror or exc}") from None
        answer = b""
        while len(answer) < MAX_ANSWER and not _complete(answer):
            data = self._receive(sock, "in answer to GET /v2/")
            if not data:
                break
            answer += data
            if first_bytes_kind(answer) == "tls":
                raise Verdict(HTTPS_EXPECTED, f"{self.address.name} answered plain HTTP with a TLS record")
        return answer

    # TLS

    def _context(self) -> ssl.SSLContext:
        """Complete any handshake: the certificate is judged afterwards, against what the daemon trusts."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.trust.cert:
            context.load_cert_chain(*self.trust.cert)
        return context

    def _exchange_tls(self, sock: socket.socket) -> bytes:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self._context().wrap_bio(incoming, outgoing, server_hostname=self.address.host)
        self._handshake(sock, tls, incoming, outgoing)
        self._judge_certificate(tls)
        tls.write(self._request())
        self._send(sock, outgoing)
        answer = b""
        while len(answer) < MAX_ANSWER and not _complete(answer):
            try:
                answer += tls.read(RECEIVE_SIZE)
                continue
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLZeroReturnError:
                break
            except ssl.SSLError as exc:
                raise Verdict(TLS_ERROR, f"{self.address.name} ended the TLS session after the handshake: "
                                         f"{exc.reason or exc}") from None
            data = self._receive(sock, "in answer to GET /v2/")
            if not data:
                break
            incoming.write(data)
        return answer

    def _handshake(self, sock, tls, incoming, outgoing) -> None:
        """Drive the handshake over ``sock`` by hand, to see the first bytes the server answers with."""
        received = b""
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError as exc:
                self._send(sock, outgoing, quiet=True)
                raise Verdict(TLS_ERROR, f"the TLS handshake with {self.address.name} failed: "
                                         f"{exc.reason or exc}") from None
            self._send(sock, outgoing)
            data = self._receive(sock, "during the TLS handshake")
            if len(received) < 5:
                received += data
                self._judge_first_bytes(received)
            if not data:
                raise Verdict(TLS_ERROR, f"{self.address.name} closed the connection during the TLS handshake")
            incoming.write(data)
        self._send(sock, outgoing)

    def _send(self, sock, outgoing, quiet: bool = False) -> None:
        pending = outgoing.read()
        if not pending:
            return
        try:
            sock.sendall(pending)
        except OSError as exc:
            if not quiet:
                raise Verdict(TLS_ERROR, f"{self.address.name} closed the connection during the TLS handshake: "
                                         f"{exc.strerror or exc}") from None

    def _judge_first_bytes(self, received: bytes) -> None:
        kind = first_bytes_kind(received)
        if len(received) < 2 or kind == "tls":
            return
        if kind == "http":
            raise Verdict(PLAIN_HTTP_PORT, f"{self.address.name} answered the TLS handshake with plain HTTP: "
                                           f"{first_line(received)!r}")
        raise Verdict(NOT_A_REGISTRY, f"{self.address.name} answered the TLS handshake with bytes that are neither "
                                      f"TLS nor HTTP: {received[:16]!r}")

    def _judge_certificate(self, tls) -> None:
        der = tls.getpeercert(binary_form=True)
        if not der:
            raise Verdict(TLS_ERROR, f"{self.address.name} completed the TLS handshake without a certificate")
        leaf = x509.load_der_x509_certificate(der)
        self.result["certificate"] = describe(leaf)
        chain = _peer_chain(tls)
        intermediates = [x509.load_der_x509_certificate(item) for item in (chain or [])[1:]]
        now = datetime.datetime.now().astimezone()  # local time, as the daemon prints it
        problems = certificate_problems(leaf, intermediates, self._anchors(), self.address.host, now, self.rules)
        if chain is None and any(problem.verdict == UNKNOWN_AUTHORITY for problem in problems) and self._openssl_trusts():
            # Python < 3.10 does not hand out the intermediates the server sent; OpenSSL used them.
            problems = [problem for problem in problems if problem.verdict != UNKNOWN_AUTHORITY]
        self.result["problems"] = [problem.verdict for problem in problems]
        if problems:
            raise Verdict(problems[0].verdict, "; ".join(problem.detail for problem in problems), problems[0].fix)

    def _anchors(self) -> list:
        anchors = []
        for path in self.trust.ca_files or _default_ca_files():
            try:
                pem = path.read_bytes()
            except OSError as exc:
                raise TrustConfigError(f"cannot read CA file {path}: {exc.strerror}") from None
            anchors += _load_certificates(pem)
        return anchors

    def _openssl_trusts(self) -> bool:
        """Whether OpenSSL builds a chain from the registry's certificate to the trusted CAs (dates aside)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.load_verify_locations(cafile=self.trust.verify if isinstance(self.trust.verify, str) else None)
        if self.trust.cert:
            context.load_cert_chain(*self.trust.cert)
        try:
            with socket.create_connection((self.address.host, self.address.port), timeout=self.timeout) as sock, \
                    context.wrap_socket(sock, server_hostname=self.address.host):
                return True
        except ssl.SSLCertVerificationError as exc:
            return exc.verify_code in OPENSSL_DATE_ERRORS
        except OSError:
            return False

    # HTTP answer

    def _judge_answer(self, answer: bytes) -> None:
        if not answer:
            raise Verdict(NOT_A_REGISTRY, f"{self.address.name} closed the connection without answering GET /v2/")
        if first_bytes_kind(answer) != "http":
            raise Verdict(NOT_A_REGISTRY, f"{self.address.name} answered GET /v2/ with something that is not HTTP: "
                                          f"{answer[:16]!r}")
        status, reason, headers, body = _parse_answer(answer)
        self.result["http_status"] = status
        verdict = http_verdict(status, headers, body, self.address.scheme)
        said = f"GET {self.result['url']} answered {status} {reason}".rstrip()
        if verdict == OK:
            detail = f"{said} (Docker-Distribution-Api-Version: {_header(headers, 'Docker-Distribution-Api-Version')})"
        elif verdict == AUTH_REQUIRED and self.credentials is not None:
            verdict = AUTH_REFUSED
            detail = f"{said} to user {self.credentials.username} ({self.credentials.source})"
        elif verdict == AUTH_REQUIRED:
            challenge = _header(headers, "WWW-Authenticate")
            detail = f"{said}" + (f" asking for {challenge}" if challenge else "")
        elif verdict == HTTPS_EXPECTED:
            detail = f"{said}: {body.strip()[:80].decode('ascii', 'replace')}"
        else:
            detail = f"{said} without the Docker-Distribution-Api-Version header of a registry"
        raise Verdict(verdict, detail)


def _complete(answer: bytes) -> bool:
    """Whether ``answer`` holds the headers and as much body as Content-Length announces."""
    head, separator, body = answer.partition(b"\r\n\r\n")
    if not separator:
        return False
    length = _header(_parse_headers(head), "Content-Length")
    return length is not None and length.isdigit() and len(body) >= int(length)


def _parse_headers(head: bytes) -> dict:
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        name, colon, value = line.partition(b":")
        if colon:
            headers[name.decode("latin-1").strip()] = value.decode("latin-1").strip()
    return headers


def _parse_answer(answer: bytes) -> tuple[int, str, dict, bytes]:
    head, _separator, body = answer.partition(b"\r\n\r\n")
    parts = first_line(head, limit=200).split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    return status, parts[2] if len(parts) > 2 else "", _parse_headers(head), body


def _header(headers: dict, name: str) -> str | None:
    return next((value for key, value in headers.items() if key.lower() == name.lower()), None)


def _peer_chain(tls) -> list[bytes] | None:
    """The certificates the server sent, leaf first, as DER; None where Python cannot tell (before 3.10)."""
    getter = getattr(tls, "get_unverified_chain", None)  # Python 3.13
    if getter is None:
        getter = getattr(getattr(tls, "_sslobj", None), "get_unverified_chain", None)  # private in 3.10 to 3.12
    if getter is None:
        return None
    return [item if isinstance(item, bytes) else item.public_bytes(ENCODING_DER) for item in getter() or []]


def _load_certificates(pem: bytes) -> list:
    """Every certificate of a PEM bundle that parses; like Go, skip the ones that do not (old roots exist)."""
    certificates = []
    for block in PEM_CERTIFICATE.findall(pem):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # roots with a non-positive serial number still parse, with a warning
            try:
                certificates.append(x509.load_pem_x509_certificate(block))
            except ValueError:
                continue
    return certificates


def _default_ca_files() -> list:
    """OpenSSL's default bundle, where no system bundle was found at the places Go looks."""
    cafile = ssl.get_default_verify_paths().cafile
    return [system_ca_bundle([cafile])] if cafile and system_ca_bundle([cafile]) else []


def daemon_go() -> tuple[GoRules, str]:
    """The Go whose rules the Docker daemon of this host applies, and where that came from.

    The running daemon's binary (or the first ``dockerd`` found) tells its Go version and default GODEBUG
    settings; the running daemon's environment may override them.
    """
    binaries, environment = [], ""
    try:
        pid = int(DOCKER_PID_FILE.read_text().strip())
        binaries.append(Path(f"/proc/{pid}/exe"))
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        environment = next((item[8:].decode("utf-8", "replace") for item in environ
                            if item.startswith(b"GODEBUG=")), "")
    except (OSError, ValueError):
        pass
    found = shutil.which("dockerd", path=os.pathsep.join([os.environ.get("PATH", ""), *DOCKERD_DIRECTORIES]))
    if found:
        binaries.append(Path(found))
    for binary in binaries:
        try:
            with binary.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                info = go_build_info(data)
            shown = os.path.realpath(binary)
        except (OSError, ValueError):
            continue
        if info is not None:
            rules = GoRules.parse(info[0], info[1], environment)
            return rules, f"{rules.name}, read from {shown}"
    return NEWEST, "unknown (no readable dockerd binary here): judged by the newest Go's rules"


def argument_spec() -> dict:
    spec = registry_connection_argument_spec()
    spec["timeout"] = dict(spec["timeout"], default=PROBE_TIMEOUT)
    spec.update(registry={"type": "str", "required": True})
    return spec


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           **registry_connection_requirements())
    if CRYPTOGRAPHY_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=CRYPTOGRAPHY_IMPORT_ERROR)
    params = module.params
    if params["timeout"] <= 0:
        module.fail_json(msg=f"timeout must be a positive number of seconds, not {params['timeout']}")
    try:
        address = parse_address(params["registry"])
        trust = None
        if address.scheme == "https":
            trust = Trust(address.name, params["ca_path"], system_roots=system_ca_bundle())
        try:
            credentials = registry_credentials(address.name, params["username"], params["password"])
            daemon = daemon_go() if trust is not None else (NEWEST, "")
            result = RegistryProbe(address, trust, params["timeout"], credentials, daemon).run()
        finally:
            if trust is not None:
                trust.close()
    except (AddressError, TrustConfigError) as exc:
        module.fail_json(msg=str(exc))
    if address.is_loopback:
        module.warn(f"Docker treats {address.name} as an insecure registry, because it is a loopback address: the "
                    "daemon checks no certificate there and may fall back to plain HTTP. The verdict is what a "
                    "daemon reaching the registry by another address would find.")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
