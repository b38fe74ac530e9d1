"""Registries of a test's own: certificates made here, containers of the local registry image, certs.d entries.

The site registry (``dockyard-registry`` on port 5000) is shared and stays untouched. These registries are
throwaway: each listens on a port of 5200-5299 at this machine's non-loopback address (Docker skips TLS for
loopback), runs in a container named ``dockyard-probe-*`` or ``dockyard-blobs-*``, and is removed with its
certs.d entry when its ``with`` block ends. The benchmark (``bench/``) runs its own as ``dockyard-bench-*`` on ports
5300-5349. The runtime tests (``test_runtimes.py``) run theirs as ``dockyard-rt-*`` on ports 5650-5699, beside hosts of
their own; the fault tests (``test_faults.py``, ``test_hostile_registry.py``) theirs as ``dockyard-gcf-*`` on ports
5800-5849; the mirror tests (``test_mirror.py``) as ``dockyard-dmn-*`` on ports 5900-5949.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import json
import os
import shutil
import socket
import sys
import tarfile
import time
import warnings
from pathlib import Path
from typing import Self

TESTS = str(Path(__file__).resolve().parents[1])  # the shared certificate builder (x509_certificates), for bench/ too
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

import bcrypt
import docker
import requests
import urllib3
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from x509_certificates import key_pem, pem, registry_ca

REGISTRY_IMAGE = "dockyard/registry:2.8.2-ds1-1"
CERTS_D = Path("/etc/docker/certs.d")
PORTS = range(5200, 5300)
RUNTIME_PORTS = range(5650, 5700)  # test_runtimes.py's registries and hosts
FAULT_PORTS = range(5800, 5850)  # test_gc.py's site, test_faults.py's and test_hostile_registry.py's servers
DAEMON_PORTS = range(5900, 5950)  # test_mirror.py's registries and mirrors
BENCH_PORTS = range(5300, 5350)  # bench/'s registries
NAME_PREFIXES = ("dockyard-probe-", "dockyard-blobs-", "dockyard-rt-", "dockyard-gcf-", "dockyard-dmn-", "dockyard-bench-")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
UTC = datetime.timezone.utc


@dataclasses.dataclass
class ServerCertificate:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    chain: tuple = ()  # the intermediates the registry sends after its certificate

    @property
    def pem(self) -> bytes:
        return pem(self.certificate, *self.chain)

    @property
    def key_pem(self) -> bytes:
        return key_pem(self.key)


class CA:
    """A CA made for one test, as the registry_pki role makes one (x509_certificates.registry_ca); it signs server
    certificates with whatever names and validity a test needs."""

    def __init__(self, common_name: str = "dockyard scratch CA") -> None:
        self.authority = registry_ca(common_name)
        self.key = self.authority.key
        self.certificate = self.authority.certificate

    @property
    def pem(self) -> bytes:
        return self.authority.pem

    def issue(self, names: list[str], *, not_before: datetime.datetime | None = None,
              not_after: datetime.datetime | None = None, common_name: str | None = None) -> ServerCertificate:
        """A server certificate whose SANs are ``names`` (IP addresses become IP SANs, the rest DNS SANs)."""
        now = datetime.datetime.now(UTC)
        certificate, key = self.authority.issue_with_key(
            names, common_name=common_name or names[0], not_before=not_before or now - datetime.timedelta(hours=1),
            not_after=not_after or now + datetime.timedelta(days=30), extended_usage=[ExtendedKeyUsageOID.SERVER_AUTH])
        return ServerCertificate(certificate, key)


def registry_image_present() -> bool:
    """Whether the local registry image exists (``playbooks/site.yml`` builds it from the OS package)."""
    client = docker.from_env()
    try:
        client.images.get(REGISTRY_IMAGE)
    except docker.errors.ImageNotFound:
        return False
    finally:
        client.close()
    return True


def free_port(candidates=PORTS, host: str = "0.0.0.0") -> int:
    """The first port of ``candidates`` that nothing on this machine listens on or publishes."""
    published = set()
    client = docker.from_env()
    try:
        for container in client.containers.list():
            for bindings in (container.ports or {}).values():
                published.update(int(binding["HostPort"]) for binding in bindings or [])
    finally:
        client.close()
    for port in candidates:
        if port in published:
            continue
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {candidates}")


@contextlib.contextmanager
def certs_d_entry(address: str, ca_pem: bytes):
    """``/etc/docker/certs.d/<address>/ca.crt`` holding ``ca_pem`` while the block runs; the directory goes after."""
    directory = CERTS_D / address
    if directory.exists():
        raise RuntimeError(f"{directory} exists already; it belongs to someone else")
    directory.mkdir(parents=True)
    try:
        (directory / "ca.crt").write_bytes(ca_pem)
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def htpasswd_line(user: str, password: str) -> str:
    """An htpasswd entry with a bcrypt hash: the only kind Distribution accepts."""
    return f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()}\n"


class ScratchRegistry:
    """A registry container on ``ip:port``: TLS with ``certificate`` (or plain HTTP without), optional htpasswd auth.

    ``workdir`` receives the TLS files and, unless ``storage`` is given, nothing else; ``storage`` (a host
    directory) is mounted as ``/var/lib/registry`` so that a test can reach the blobs on disk. ``delete`` lets the
    registry take deletes of manifests (``storage.delete.enabled``, as the registry_server role configures it).
    """

    def __init__(self, name: str, ip: str, port: int, workdir: Path, *, certificate: ServerCertificate | None = None,
                 storage: Path | None = None, htpasswd: str | None = None, delete: bool = False) -> None:
        if not name.startswith(NAME_PREFIXES):
            raise ValueError(f"container name {name!r} must start with one of {', '.join(NAME_PREFIXES)}")
        if not any(port in ports for ports in (PORTS, RUNTIME_PORTS, FAULT_PORTS, DAEMON_PORTS, BENCH_PORTS)):
            raise ValueError(f"port {port} is outside {PORTS}, {RUNTIME_PORTS}, {FAULT_PORTS}, {DAEMON_PORTS} and "
                             f"{BENCH_PORTS}")
        self.name, self.ip, self.port, self.workdir = name, ip, port, Path(workdir)
        self.certificate, self.storage, self.htpasswd, self.delete = certificate, storage, htpasswd, delete
        self.client = docker.from_env()
        self.container = None

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.certificate else 'http'}://{self.address}"

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self, wait: float = 30) -> None:
        config = self.workdir / "registry-config"
        config.mkdir(parents=True, exist_ok=True)
        environment = {"REGISTRY_LOG_LEVEL": "warn", "REGISTRY_HTTP_SECRET": os.urandom(16).hex()}
        volumes = {str(config): {"bind": "/config", "mode": "ro"}}
        if self.certificate:
            (config / "server.crt").write_bytes(self.certificate.pem)
            (config / "server.key").write_bytes(self.certificate.key_pem)
            environment.update(REGISTRY_HTTP_TLS_CERTIFICATE="/config/server.crt",
                               REGISTRY_HTTP_TLS_KEY="/config/server.key")
        if self.htpasswd:
            (config / "htpasswd").write_text(self.htpasswd)
            environment.update(REGISTRY_AUTH="htpasswd", REGISTRY_AUTH_HTPASSWD_REALM="dockyard scratch",
                               REGISTRY_AUTH_HTPASSWD_PATH="/config/htpasswd")
        if self.delete:
            environment["REGISTRY_STORAGE_DELETE_ENABLED"] = "true"
        if self.storage:
            volumes[str(self.storage)] = {"bind": "/var/lib/registry", "mode": "rw"}
        self.container = self.client.containers.run(
            REGISTRY_IMAGE, name=self.name, detach=True, environment=environment, volumes=volumes,
            ports={"5000/tcp": (self.ip, self.port)}, labels={"dockyard.test": "scratch-registry"})
        self._wait(wait)

    def _wait(self, wait: float) -> None:
        """Until /v2/ answers as a registry (any status: a 401 is an answer), ignoring the certificate on purpose."""
        deadline = time.monotonic() + wait
        last = None
        while time.monotonic() < deadline:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
                    response = requests.get(f"{self.url}/v2/", verify=False, timeout=2)
                if "Docker-Distribution-Api-Version" in response.headers:
                    return
                last = f"{response.status_code} without the registry's header"
            except requests.RequestException as exc:
                last = exc
            time.sleep(0.2)
        logs = self.container.logs(tail=30).decode(errors="replace") if self.container else ""
        raise RuntimeError(f"registry {self.name} on {self.address} did not answer: {last}\n{logs}")

    def kill(self) -> None:
        """SIGKILL the registry, as a crash or an OOM kill would end it; its storage stays."""
        self.container.kill()

    def start_again(self, wait: float = 30) -> None:
        """Start the killed container again, with the same storage and certificate."""
        self.container.start()
        self._wait(wait)

    def stop(self) -> None:
        if self.container is not None:
            with contextlib.suppress(docker.errors.NotFound):
                self.container.remove(force=True, v=True)
            self.container = None
        self.client.close()

    def blob_path(self, digest: str) -> Path:
        """Where the filesystem driver keeps a blob's bytes under ``storage``."""
        hex_digest = digest.split(":", 1)[1]
        return self.storage / "docker/registry/v2/blobs/sha256" / hex_digest[:2] / hex_digest / "data"


# Pushing content through the registry API, so that a test controls every byte and media type.


def descriptor(media_type: str, digest: str, size: int, **extra) -> dict:
    return {"mediaType": media_type, "digest": digest, "size": size, **extra}


class RegistryAPI:
    """Uploads blobs and manifests over the Distribution API, trusting ``ca`` (a file) or nothing else.

    ``auth`` is the (user, password) of a registry with accounts.
    """

    def __init__(self, url: str, ca: str | None = None, auth: tuple[str, str] | None = None) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE must not decide what this trusts
        self.session.auth = auth
        self.verify = ca if ca else True

    def close(self) -> None:
        self.session.close()

    def upload_blob(self, repository: str, content: bytes | Path, media_type: str = OCI_LAYER) -> dict:
        """One monolithic upload (POST then PUT); ``content`` is bytes or a file streamed from disk."""
        if isinstance(content, Path):
            hasher = hashlib.sha256()
            with content.open("rb") as source:
                for chunk in iter(lambda: source.read(1 << 20), b""):
                    hasher.update(chunk)
            digest, size = f"sha256:{hasher.hexdigest()}", content.stat().st_size
        else:
            digest, size = f"sha256:{hashlib.sha256(content).hexdigest()}", len(content)
        started = self.session.post(f"{self.url}/v2/{repository}/blobs/uploads/", verify=self.verify, timeout=60)
        started.raise_for_status()
        location = started.headers["Location"]
        if location.startswith("/"):
            location = self.url + location
        separator = "&" if "?" in location else "?"
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        if isinstance(content, Path):
            with content.open("rb") as body:
                done = self.session.put(f"{location}{separator}digest={digest}", data=body, headers=headers,
                                        verify=self.verify, timeout=600)
        else:
            done = self.session.put(f"{location}{separator}digest={digest}", data=content, headers=headers,
                                    verify=self.verify, timeout=600)
        done.raise_for_status()
        return descriptor(media_type, digest, size)

    def put_manifest(self, repository: str, reference: str, manifest: dict) -> tuple[str, bytes]:
        """PUT ``manifest`` as JSON; return its digest and the exact bytes sent."""
        body = json.dumps(manifest, indent=2).encode()
        response = self.session.put(f"{self.url}/v2/{repository}/manifests/{reference}", data=body,
                                    headers={"Content-Type": manifest["mediaType"]}, verify=self.verify, timeout=60)
        response.raise_for_status()
        digest = f"sha256:{hashlib.sha256(body).hexdigest()}"
        assert response.headers["Docker-Content-Digest"] == digest, response.headers
        return digest, body

    def push_image(self, repository: str, tag: str | None, layers: list[bytes | Path],
                   platform: tuple[str, str] = ("linux", "amd64"), created: str | None = None) -> dict:
        """An OCI image of uncompressed tar ``layers``; returns the manifest's descriptor with its config and layers.

        ``created`` (RFC 3339) goes into the config as the time the image was made.
        """
        layer_descriptors = [self.upload_blob(repository, layer) for layer in layers]
        config = json.dumps({
            **({"created": created} if created else {}),
            "architecture": platform[1], "os": platform[0],
            "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layer_descriptors]},
            "config": {},
        }).encode()
        config_descriptor = self.upload_blob(repository, config, OCI_CONFIG)
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config_descriptor,
                    "layers": layer_descriptors}
        digest, body = self.put_manifest(repository, tag or _digest_of_json(manifest), manifest)
        return {**descriptor(OCI_MANIFEST, digest, len(body), platform={"os": platform[0], "architecture": platform[1]}),
                "config": config_descriptor, "layers": layer_descriptors}

    def push_index(self, repository: str, tag: str, images: dict[tuple[str, str], list[bytes | Path]]) -> dict:
        """An OCI index with one image per platform (``{("linux", "arm64"): [layer, ...], ...}``)."""
        children = {platform: self.push_image(repository, None, layers, platform) for platform, layers in images.items()}
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX,
                 "manifests": [{key: child[key] for key in ("mediaType", "digest", "size", "platform")}
                               for child in children.values()]}
        digest, body = self.put_manifest(repository, tag, index)
        return {"digest": digest, "size": len(body), "children": children}


def _digest_of_json(manifest: dict) -> str:
    return f"sha256:{hashlib.sha256(json.dumps(manifest, indent=2).encode()).hexdigest()}"


def tar_layer(path: Path, name: str, size: int) -> Path:
    """Write an uncompressed tar holding one file of ``size`` random bytes to ``path`` (streamed, not in memory)."""
    class _Random:
        def __init__(self, remaining: int) -> None:
            self.remaining = remaining

        def read(self, amount: int = -1) -> bytes:
            amount = self.remaining if amount < 0 else min(amount, self.remaining)
            self.remaining -= amount
            return os.urandom(amount)

    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as archive:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = size, 0o644, 0
        archive.addfile(info, _Random(size))
    return path
