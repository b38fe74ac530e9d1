# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: the probe's exchange with a registry, on the collection's TLS stack.

It connects the way the Docker daemon would (the CAs of ``daemon_trust``, SNI by name only, TLS 1.2 or later),
completes the handshake without verification to see what the registry presents, judges the certificate with
``_verdicts`` (as Go's ``crypto/x509`` does), then asks ``GET /v2/`` and judges the answer. What it saw becomes a
verdict of ``_verdicts`` with a detail; the result is the registry_probe module's.
"""

from __future__ import annotations

import datetime
import http.client
import re
import socket
import ssl
import traceback
import warnings

from ansible_collections.dockyard.registry.plugins.module_utils._names import RegistryAddress
from ansible_collections.dockyard.registry.plugins.module_utils._registry.auth import Credentials
from ansible_collections.dockyard.registry.plugins.module_utils._registry.daemon_trust import Trust, system_ca_bundle
from ansible_collections.dockyard.registry.plugins.module_utils._registry.errors import (
    PlainHTTPError,
    TrustConfigError,
)
from ansible_collections.dockyard.registry.plugins.module_utils._registry.media import (
    API_VERSION_HEADER,
    MAX_ERROR_BYTES,
)
from ansible_collections.dockyard.registry.plugins.module_utils._registry.transport import (
    Deadline,
    TLSSocket,
    _Stream,
    first_bytes_kind,
)
from ansible_collections.dockyard.registry.plugins.module_utils._verdicts import (
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
    UNREACHABLE,
    UNRESOLVED,
    certificate_problems,
    describe,
    http_verdict,
    remedy,
)
from ansible_collections.dockyard.registry.plugins.module_utils._x509 import NEWEST, GoRules

try:
    from cryptography import x509
except ImportError:  # the modules report it with missing_required_lib
    x509 = None
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()
else:
    CRYPTOGRAPHY_IMPORT_ERROR = None

PROBE_TIMEOUT = 10
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

    def __init__(self, address: RegistryAddress, trust: Trust | None, timeout: float,
                 credentials: Credentials | None = None, insecure: bool = False,
                 credentials_unverified: bool = False, daemon: tuple[GoRules, str] = (NEWEST, "")) -> None:
        self.address = address
        self.rules = daemon[0]  # the certificate rules of the Go that built the host's dockerd
        self.trust = trust
        self.timeout = timeout
        self.deadline = None
        # For a registry the daemon treats as insecure, a certificate's problems are noted, not a verdict: the
        # daemon does not verify there. The credentials still go only where the certificate passed, unless
        # credentials_unverified allows otherwise.
        self.insecure, self.credentials_unverified = insecure, credentials_unverified
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
            self.result["credentials"] = self.credentials.describe()

    def run(self) -> dict:
        # Each step (connect, handshake, answer) gets the timeout; the probe as a whole, three of them.
        self.deadline = Deadline(3 * self.timeout, f"the probe of {self.address.name}")
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
                stream = _Stream(sock, self.timeout)
                stream.deadline = self.deadline
            else:
                stream = self._handshake(sock)
                self._judge_certificate(stream)
            self._judge_answer(self._ask(stream))
        finally:
            sock.close()

    # TCP

    def _connect(self) -> socket.socket:
        where = self.address.name
        try:
            return socket.create_connection((self.address.host, self.address.port), timeout=self.timeout)
        except socket.gaierror as exc:
            raise Verdict(UNRESOLVED, f"{self.address.host} does not resolve: {exc.strerror}") from None
        except socket.timeout:
            raise Verdict(TIMEOUT, f"no TCP connection to {where} within {self.timeout:g} seconds") from None
        except ConnectionRefusedError:
            raise Verdict(CONNECTION_REFUSED, f"{where} refused the TCP connection") from None
        except OSError as exc:
            raise Verdict(UNREACHABLE, f"no TCP connection to {where}: {exc.strerror or exc}") from None

    # TLS

    def _handshake(self, sock: socket.socket) -> TLSSocket:
        """Complete any handshake: the certificate is judged afterwards, against what the daemon trusts."""
        tls = TLSSocket(sock, self.trust.context(verify=False), self._sni(), self.timeout, self.deadline)
        name = self.address.name
        try:
            tls.handshake()
        except PlainHTTPError as exc:
            raise Verdict(PLAIN_HTTP_PORT, f"{name} answered the TLS handshake with plain HTTP: "
                                           f"{exc.first_line!r}") from None
        except socket.timeout:
            raise Verdict(TIMEOUT, f"{name} accepted the connection but sent nothing for {self.timeout:g} seconds "
                                   "during the TLS handshake") from None
        except (ssl.SSLError, OSError) as exc:
            if tls.first_bytes and first_bytes_kind(tls.first_bytes) == "other":
                raise Verdict(NOT_A_REGISTRY, f"{name} answered the TLS handshake with bytes that are neither TLS "
                                              f"nor HTTP: {tls.first_bytes[:16]!r}") from None
            if isinstance(exc, ConnectionResetError) or not tls.first_bytes:
                raise Verdict(TLS_ERROR, f"{name} closed the connection during the TLS handshake") from None
            raise Verdict(TLS_ERROR, f"the TLS handshake with {name} failed: "
                                     f"{getattr(exc, 'reason', None) or exc}") from None
        return tls

    def _sni(self) -> str | None:
        return None if self.address.is_ip else self.address.host  # Go sends no SNI for an IP address

    def _judge_certificate(self, tls: TLSSocket) -> None:
        der = tls.peer_certificate()
        if not der:
            raise Verdict(TLS_ERROR, f"{self.address.name} completed the TLS handshake without a certificate")
        leaf = x509.load_der_x509_certificate(der)
        self.result["certificate"] = describe(leaf)
        intermediates = [x509.load_der_x509_certificate(item) for item in tls.peer_chain()[1:]]
        now = datetime.datetime.now().astimezone()  # local time, as the daemon prints it
        problems = certificate_problems(leaf, intermediates, self._anchors(), self.address.host, now, self.rules)
        self.result["problems"] = [problem.verdict for problem in problems]
        if problems and not self.insecure:
            raise Verdict(problems[0].verdict, "; ".join(problem.detail for problem in problems), problems[0].fix)
        if problems and self.credentials is not None and not self.credentials_unverified:
            # The certificate did not pass: whoever presented it gets no password.
            self.credentials = None
            self.result.pop("credentials", None)
            self.result["credentials_withheld"] = True

    def _anchors(self) -> list:
        anchors = []
        for path in self.trust.ca_files or _default_ca_files():
            try:
                pem = path.read_bytes()
            except OSError as exc:
                raise TrustConfigError(f"cannot read CA file {path}: {exc.strerror}") from None
            anchors += _load_certificates(pem)
        return anchors

    # HTTP

    def _ask(self, stream) -> tuple[int, str, dict, bytes]:
        """``GET /v2/`` over ``stream``: status, reason, headers and the start of the body."""
        name = self.address.name
        connection = http.client.HTTPConnection(self.address.host, self.address.port, timeout=self.timeout)
        connection.sock = stream
        headers = {"Host": name, "User-Agent": "dockyard.registry registry_probe", "Accept": "application/json",
                   "Connection": "close"}
        if self.credentials:
            headers["Authorization"] = self.credentials.basic
        try:
            connection.request("GET", "/v2/", headers=headers)
            response = connection.getresponse()
            body = response.read(MAX_ERROR_BYTES)
        except http.client.BadStatusLine as exc:
            line = exc.line.encode("latin-1", "replace") if isinstance(exc.line, str) else bytes(exc.line or b"")
            if self.address.scheme == "http" and first_bytes_kind(line) == "tls":
                raise Verdict(HTTPS_EXPECTED, f"{name} answered plain HTTP with a TLS record") from None
            if not line.strip():
                raise Verdict(NOT_A_REGISTRY, f"{name} closed the connection without answering GET /v2/") from None
            raise Verdict(NOT_A_REGISTRY, f"{name} answered GET /v2/ with something that is not HTTP: "
                                          f"{line[:16]!r}") from None
        except socket.timeout:
            raise Verdict(TIMEOUT, f"{name} accepted the connection but sent nothing for {self.timeout:g} seconds "
                                   "in answer to GET /v2/") from None
        except ssl.SSLError as exc:
            raise Verdict(TLS_ERROR, f"{name} ended the TLS session after the handshake: "
                                     f"{exc.reason or exc}") from None
        except (OSError, http.client.HTTPException) as exc:
            kind = TLS_ERROR if self.address.scheme == "https" else NOT_A_REGISTRY
            raise Verdict(kind, f"{name} broke the connection in answer to GET /v2/: "
                                f"{getattr(exc, 'strerror', None) or exc or type(exc).__name__}") from None
        return response.status, response.reason, dict(response.getheaders()), body

    def _judge_answer(self, answer: tuple[int, str, dict, bytes]) -> None:
        status, reason, headers, body = answer
        self.result["http_status"] = status
        verdict = http_verdict(status, headers, body, self.address.scheme)
        said = f"GET {self.result['url']} answered {status} {reason}".rstrip()
        if verdict == OK:
            detail = f"{said} ({API_VERSION_HEADER}: {_header(headers, API_VERSION_HEADER)})"
            # The collection's authenticating proxy names the role of the account it let in: pull, push, or push with
            # the repository prefixes it is limited to.
            role = _header(headers, ROLE_HEADER) if self.credentials is not None else None
            if role:
                self.result["login_role"] = role
        elif verdict == AUTH_REQUIRED and self.credentials is not None:
            verdict = AUTH_REFUSED
            detail = f"{said} to {self.credentials.describe()}"
        elif verdict == AUTH_REQUIRED:
            challenge = _header(headers, "WWW-Authenticate")
            detail = f"{said}" + (f" asking for {challenge}" if challenge else "")
        elif verdict == HTTPS_EXPECTED:
            detail = f"{said}: {body.strip()[:80].decode('ascii', 'replace')}"
        else:
            detail = f"{said} without the {API_VERSION_HEADER} header of a registry"
        raise Verdict(verdict, detail)


ROLE_HEADER = "Dockyard-Account-Role"


def _header(headers: dict, name: str) -> str | None:
    return next((value for key, value in headers.items() if key.lower() == name.lower()), None)


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
