# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: the registry API client and the options every module shares.

The client trusts exactly what the Docker daemon on the same host trusts for a registry, so a module
never reports "fine" for a registry the daemon would refuse (or the reverse): the system roots plus every
``*.crt`` in ``/etc/docker/certs.d/<host:port>/``, and the ``*.cert``/``*.key`` pair there as client
certificate. It ignores ``REQUESTS_CA_BUNDLE`` and proxies from the environment (``trust_env = False``):
the daemon does not read them either.

Credentials are the daemon client's too: those ``docker login`` stored for the registry in the Docker
client configuration (``~/.docker/config.json``, or a credential helper it names), unless a module is
given ``username`` and ``password``. They go out as HTTP Basic auth over HTTPS only, never over plain HTTP.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import tempfile
import traceback
from pathlib import Path

from ansible.module_utils.basic import env_fallback, missing_required_lib

from ansible_collections.dockyard.registry.plugins.module_utils._digest import DigestError, parse_digest
from ansible_collections.dockyard.registry.plugins.module_utils._reference import ImageReference

try:
    import requests
except ImportError:
    requests = None
    REQUESTS_IMPORT_ERROR = traceback.format_exc()
else:
    REQUESTS_IMPORT_ERROR = None

try:
    import docker
except ImportError:
    docker = None
    DOCKER_IMPORT_ERROR = traceback.format_exc()
else:
    DOCKER_IMPORT_ERROR = None

CERTS_D = Path("/etc/docker/certs.d")
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
DEFAULT_TIMEOUT = 60

# Where Go (and so dockerd) looks for the system roots on Linux, in its order.
SYSTEM_CA_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
)

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
# Without the list types a registry may answer with (or convert to) another manifest, and so another digest.
MANIFEST_ACCEPT = f"{DOCKER_MANIFEST}, {DOCKER_MANIFEST_LIST}, {OCI_MANIFEST}, {OCI_INDEX}"
DIGEST_HEADER = "Docker-Content-Digest"


def registry_connection_argument_spec() -> dict:
    """The options that say how a module reaches a registry: what it trusts, how long it waits."""
    return {
        "ca_path": {"type": "path"},
        "timeout": {"type": "int", "default": DEFAULT_TIMEOUT},
        "username": {"type": "str"},
        "password": {"type": "str", "no_log": True},
    }


def registry_connection_requirements() -> dict:
    """The AnsibleModule arguments that go with :func:`registry_connection_argument_spec`."""
    return {"required_together": [("username", "password")]}


@dataclasses.dataclass(frozen=True)
class Credentials:
    """A registry account, and where it came from (for messages: never the password)."""

    username: str
    password: str = dataclasses.field(repr=False)
    source: str

    @property
    def basic(self) -> str:
        """The ``Authorization`` header value of HTTP Basic auth."""
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return f"Basic {token}"


def registry_credentials(registry: str, username: str | None = None, password: str | None = None,
                         config_path: str | None = None) -> Credentials | None:
    """The account to use for ``registry`` (host:port): as given, else what ``docker login`` stored for it.

    The Docker client configuration is read with the Docker SDK (``docker.auth``), credential helpers
    included, just as the daemon client would; without the SDK, only given credentials count.
    """
    if username is not None and password is not None:
        return Credentials(username, password, "the username and password options")
    if docker is None:
        return None
    try:
        config = docker.auth.load_config(config_path=config_path)
        entry = config.resolve_authconfig(registry)
    except (docker.errors.DockerException, OSError, ValueError):
        return None
    if not entry or not entry.get("username") or entry.get("password") is None:
        return None
    where = config_path or docker.utils.config.find_config_file() or "the Docker client configuration"
    return Credentials(entry["username"], entry["password"], f"the Docker login stored in {where}")


def registry_common_argument_spec() -> dict:
    """The options every module that also talks to the Docker daemon shares; a module adds its own to a copy."""
    spec = {
        "docker_host": {"type": "str", "default": DEFAULT_DOCKER_HOST, "fallback": (env_fallback, ["DOCKER_HOST"])},
    }
    spec.update(registry_connection_argument_spec())
    return spec


def require_libraries(module, need_docker: bool = True) -> None:
    """Fail ``module`` naming the first missing Python library, the way ansible modules do."""
    if REQUESTS_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("requests"), exception=REQUESTS_IMPORT_ERROR)
    if need_docker and DOCKER_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("docker"), exception=DOCKER_IMPORT_ERROR)


def daemon_client(docker_host: str, timeout: int = DEFAULT_TIMEOUT):
    """A Docker SDK low-level client for the daemon at ``docker_host``, with the API version negotiated."""
    return docker.APIClient(base_url=docker_host, version="auto", timeout=timeout)


class RegistryError(Exception):
    """The registry could not be asked, or its answer is not usable."""


class RegistryAuthError(RegistryError):
    """The registry answered 401 (it needs credentials, or refused those sent), or credentials would go in clear."""


class ManifestUnknownError(RegistryError):
    """The registry has no manifest for the repository and tag (or digest) asked for."""


class RegistryConnectionError(RegistryError):
    """The registry could not be reached (refused, timed out, DNS)."""


class RegistryTLSError(RegistryConnectionError):
    """The TLS handshake failed: most often the registry's certificate is not signed by a trusted CA."""


class TrustConfigError(RegistryError):
    """The certs.d directory for a registry is unusable (the daemon rejects it the same way)."""


@dataclasses.dataclass(frozen=True)
class CertsDir:
    """What a Docker daemon reads from ``/etc/docker/certs.d/<host:port>/``."""

    path: Path
    ca_files: tuple[Path, ...]
    client_certs: tuple[tuple[Path, Path], ...]

    @classmethod
    def read(cls, path: Path) -> CertsDir:
        """List the directory like dockerd's ``ReadCertsDirectory``: ``*.crt`` are CAs, ``*.cert``+``*.key`` pairs."""
        files = sorted(entry for entry in path.iterdir() if entry.is_file()) if path.is_dir() else []
        names = {entry.name for entry in files}
        for entry in files:
            if entry.suffix == ".cert" and entry.with_suffix(".key").name not in names:
                raise TrustConfigError(f"missing key {entry.with_suffix('.key')} for client certificate {entry}; "
                                       "CA certificates must use the extension .crt")
            if entry.suffix == ".key" and entry.with_suffix(".cert").name not in names:
                raise TrustConfigError(f"missing client certificate {entry.with_suffix('.cert')} for key {entry}")
        ca_files = tuple(entry for entry in files if entry.suffix == ".crt")
        pairs = tuple((entry, entry.with_suffix(".key")) for entry in files if entry.suffix == ".cert")
        return cls(path, ca_files, pairs)


def system_ca_bundle(candidates=SYSTEM_CA_BUNDLES) -> Path | None:
    """The system roots file, found where Go's crypto/x509 finds it."""
    return next((Path(candidate) for candidate in candidates if os.path.isfile(candidate)), None)


class Trust:
    """The CA bundle and client certificate to use for one registry, and where they came from.

    ``verify`` and ``cert`` are what ``requests`` takes. When certs.d holds CAs, they and the system
    roots are written to a private temporary bundle (requests takes one file); :meth:`close` removes it.
    ``ca_files`` lists the PEM files trusted, for code that checks a chain itself.
    """

    def __init__(self, registry: str, ca_path: str | None = None, certs_d: Path = CERTS_D,
                 system_roots: Path | None = None) -> None:
        certs = CertsDir.read(Path(certs_d) / registry)
        self.certs_dir = certs.path
        self.cert = tuple(str(part) for part in certs.client_certs[0]) if certs.client_certs else None
        self._bundle = None
        if ca_path:
            self.verify, self.source = ca_path, f"ca_path {ca_path}"
            self.ca_files = (Path(ca_path),)
            self.fix = "ca_path must name the CA that signed the registry's certificate"
            return
        self.fix = (f"put the CA that signed the registry's certificate in {certs.path}/ca.crt, where the Docker "
                    "daemon looks, or name it with ca_path")
        self.ca_files = ((Path(system_roots),) if system_roots else ()) + certs.ca_files
        if not certs.ca_files:
            self.verify = str(system_roots) if system_roots else True
            self.source = f"the system roots only (no *.crt in {certs.path})"
            return
        self._bundle = self.verify = _write_bundle([system_roots, *certs.ca_files] if system_roots else certs.ca_files)
        self.source = ("the system roots and " if system_roots else "") + ", ".join(map(str, certs.ca_files))

    def close(self) -> None:
        if self._bundle:
            os.unlink(self._bundle)
            self._bundle = None


def _write_bundle(pem_files) -> str:
    """Concatenate PEM files into a temporary bundle only this user can read; return its path."""
    handle, path = tempfile.mkstemp(prefix="dockyard-ca-", suffix=".pem")
    try:
        with os.fdopen(handle, "wb") as bundle:
            for pem_file in pem_files:
                bundle.write(_read_pem(pem_file))
    except TrustConfigError:
        os.unlink(path)
        raise
    return path


def _read_pem(pem_file) -> bytes:
    """One CA file, newline-terminated so that the next one starts on a line of its own."""
    try:
        data = Path(pem_file).read_bytes()
    except OSError as exc:
        raise TrustConfigError(f"cannot read CA file {pem_file}: {exc.strerror}") from None
    return data if data.endswith(b"\n") else data + b"\n"


@dataclasses.dataclass(frozen=True)
class Manifest:
    """A manifest as the registry served it: ``content`` is the exact bytes, ``digest`` its header."""

    content: bytes
    media_type: str | None
    digest: str | None


class RegistryClient:
    """Read manifests from one registry over HTTPS (Distribution API v2), trusting what dockerd trusts.

    For a registry the daemon treats as insecure (``insecure=True``), it does what the daemon does: HTTPS
    without verifying the certificate, and plain HTTP where the registry does not speak TLS.
    Use it as a context manager: it may hold a temporary CA bundle and a connection pool.
    """

    def __init__(self, registry: str, ca_path: str | None = None, timeout: int = DEFAULT_TIMEOUT,
                 insecure: bool = False, credentials: Credentials | None = None) -> None:
        self.registry = registry
        self.timeout = timeout
        self.insecure = insecure
        self.credentials = credentials
        self.scheme = "https"
        self.trust = Trust(registry, ca_path, system_roots=system_ca_bundle())
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.headers["Accept"] = MANIFEST_ACCEPT

    @property
    def authorization(self) -> str | None:
        """The ``Authorization`` header for requests to the registry itself (HTTPS only), or None."""
        return self.credentials.basic if self.credentials and self.scheme == "https" else None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()
        self.trust.close()

    def head_manifest(self, reference: ImageReference) -> str:
        """The ``Docker-Content-Digest`` the registry reports for ``reference`` (tag or digest)."""
        response = self._request("HEAD", reference)
        digest = response.headers.get(DIGEST_HEADER)
        if not digest:
            raise RegistryError(f"HEAD {response.url} answered {response.status_code} without a {DIGEST_HEADER} "
                                "header, so the registry does not say which manifest it serves")
        return self._valid_digest(digest, response.url)

    def get_manifest(self, reference: ImageReference) -> Manifest:
        """The manifest for ``reference``, its bytes untouched (their sha256 is the manifest's digest)."""
        response = self._request("GET", reference)
        header = response.headers.get(DIGEST_HEADER)
        digest = self._valid_digest(header, response.url) if header else None
        return Manifest(response.content, response.headers.get("Content-Type"), digest)

    def _request(self, method: str, reference: ImageReference):
        path = f"/v2/{reference.repository}/manifests/{reference.manifest_reference}"
        url = f"{self.scheme}://{self.registry}{path}"
        verify = False if self.insecure else self.trust.verify
        headers = {"Authorization": self.authorization} if self.authorization else {}
        try:
            response = self.session.request(method, url, verify=verify, cert=self.trust.cert, headers=headers,
                                            timeout=self.timeout, allow_redirects=True)
        except requests.exceptions.SSLError as exc:
            if self.insecure and self.scheme == "https":
                # The daemon's fallback for an insecure registry that does not speak TLS at all; but a password
                # never goes over plain HTTP.
                if self.credentials:
                    raise RegistryAuthError(
                        f"registry {self.registry} does not speak TLS, and credentials ({self.credentials.source}, "
                        f"user {self.credentials.username}) are not sent over plain HTTP, where anyone on the path "
                        "reads them: serve the registry over TLS (registry_tls: true)") from exc
                self.scheme = "http"
                return self._request(method, reference)
            raise RegistryTLSError(
                f"TLS verification of https://{self.registry} failed: {_reason(exc)}. "
                f"Trusted CAs: {self.trust.source}; {self.trust.fix}") from exc
        except requests.exceptions.Timeout as exc:
            raise RegistryConnectionError(
                f"registry https://{self.registry} did not answer {method} {url} within {self.timeout} seconds "
                "(option timeout)") from exc
        except requests.exceptions.RequestException as exc:
            raise RegistryConnectionError(f"cannot reach registry https://{self.registry}: {_reason(exc)}") from exc
        _raise_for_status(response, method, reference, self.credentials)
        return response

    @staticmethod
    def _valid_digest(value: str, url: str) -> str:
        try:
            return parse_digest(value)
        except DigestError as exc:
            raise RegistryError(f"{url} sent an unusable {DIGEST_HEADER} header: {exc}") from None


def unauthorized_message(registry: str, what: str, credentials: Credentials | None, challenge: str = "") -> str:
    """Why a 401 came, and what to do: log in, or use other credentials."""
    if credentials is None:
        return (f"registry {registry} answered 401 Unauthorized to {what}: it needs credentials and none are known "
                f"for {registry}. Log this host in (`docker login {registry}`, or the registry_trust role with "
                "registry_users), or give username and password")
    if challenge and not challenge.lower().startswith("basic"):
        return (f"registry {registry} answered 401 Unauthorized to {what}: it asks for {challenge.split(' ', 1)[0]} "
                "authentication, and this module speaks HTTP Basic only")
    return (f"registry {registry} refused the credentials of user {credentials.username} ({credentials.source}) "
            f"with 401 Unauthorized to {what}: the password is wrong or the account does not exist; log in again")


def _raise_for_status(response, method: str, reference: ImageReference, credentials: Credentials | None = None) -> None:
    status = response.status_code
    if status < 400:
        return
    separator = "@" if reference.digest else ":"
    wanted = f"{reference.repository}{separator}{reference.manifest_reference}"
    if status == 401:
        raise RegistryAuthError(unauthorized_message(reference.registry, f"{method} of the manifest of {wanted}",
                                                     credentials, response.headers.get("WWW-Authenticate", "")))
    if status == 404:
        raise ManifestUnknownError(
            f"manifest unknown: registry {reference.registry} has no manifest for {wanted} (404)")
    raise RegistryError(f"registry {reference.registry} answered {status} {response.reason} to {method} of the "
                        f"manifest of {wanted}{_error_detail(response)}")


def _error_detail(response) -> str:
    """Distribution's JSON error body (``{"errors": [{"code", "message"}]}``) as ``: CODE message``, if any."""
    try:
        errors = response.json().get("errors") or []
    except (ValueError, AttributeError):
        return ""
    details = "; ".join(f"{error.get('code', '')} {error.get('message', '')}".strip() for error in errors)
    return f": {details}" if details else ""


def _reason(exc: BaseException) -> str:
    """The innermost cause of a requests/urllib3 error: ``certificate verify failed: …``, ``Connection refused``.

    requests wraps urllib3's MaxRetryError, which wraps the socket or ssl error that says what happened.
    """
    while True:
        inner = getattr(exc, "reason", None)
        if not isinstance(inner, BaseException):
            inner = exc.__cause__
        if not isinstance(inner, BaseException) and exc.args and isinstance(exc.args[0], BaseException):
            inner = exc.args[0]
        if not isinstance(inner, BaseException):
            return str(exc)
        exc = inner
