"""``registry_image`` against registries that misbehave, and against registries it must not trust with a password.

The misbehaving registries are TLS servers of the test's own (``hostile_server``), each answering as a broken or
hostile registry would: a manifest without end, an error body without end, an index of thousands of platforms,
a byte at a time, a blob whose transfer breaks off. The module must stop reading at its limits and within its
deadline, and name what failed. Where a certificate does not verify, the module must keep the password to itself
unless told otherwise, for the blobs as for the manifests: shown with such a server, which records every
``Authorization`` header it receives, and with a real registry of the local image.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import socket
import time
import uuid

import pytest
from hostile_server import Exchange, HostileServer
from scratch_registry import (
    CA,
    FAULT_PORTS,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    RegistryAPI,
    ScratchRegistry,
    certs_d_entry,
    free_port,
    htpasswd_line,
)

from support import run_module

MODULE = "dockyard.registry.registry_image"
REPOSITORY = "test/app"
MANIFEST_PATH = f"/v2/{REPOSITORY}/manifests/1"
MAX_MANIFEST = 4 << 20
ENDLESS = 256 << 20  # "without end": far more than any limit, small enough to end in time where nothing stops it
READ_AT_MOST = 32 << 20  # what a bounded client lets through, the kernel's socket buffers included
TIMEOUT = 3  # the module's option timeout, in seconds, where a test waits for the deadline
HUNG = 90  # a module run that takes longer has hung


@pytest.fixture(scope="module")
def ca() -> CA:
    return CA("hostile registry test CA")


@pytest.fixture
def hostile(machine_ip, ca):
    """Start a server that answers with a function of the test, its CA trusted through certs.d unless told not."""
    with contextlib.ExitStack() as stack:
        def start(answer, trusted: bool = True) -> HostileServer:
            port = free_port(FAULT_PORTS, machine_ip)
            issuer = ca if trusted else CA("a CA nobody trusts")
            server = stack.enter_context(HostileServer(machine_ip, port, issuer.issue([machine_ip]), answer))
            if trusted:
                stack.enter_context(certs_d_entry(server.address, ca.pem))
            return server
        yield start


def verify(server, *extra: str, **options) -> tuple[dict, float]:
    """The module's result for ``<server>/test/app:1`` (verified, not pulled), and the seconds it took."""
    started = time.monotonic()
    result = run_module(MODULE, {"name": f"{server.address}/{REPOSITORY}:1", "state": "verified", "pull": False,
                                 **options}, *extra, timeout=HUNG)
    return result, time.monotonic() - started


def digest(content: bytes) -> str:
    return f"sha256:{hashlib.sha256(content).hexdigest()}"


def endless(total: int = ENDLESS, piece: int = 1 << 20):
    chunk = b" " * piece
    for _piece in range(total // piece):
        yield chunk


def registry_of(routes: dict) -> callable:
    """An answer function: ``routes`` maps (method, path) to a function of the exchange; /v2/ answers 200."""
    def answer(exchange: Exchange) -> None:
        route = routes.get((exchange.method, exchange.path))
        if route is not None:
            route(exchange)
        elif exchange.path == "/v2/":
            exchange.send(200, {"Content-Type": "application/json"}, b"{}")
        else:
            exchange.send(404, {"Content-Type": "application/json"},
                          b'{"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}')
    return answer


def serving(content: bytes, media_type: str = OCI_MANIFEST):
    """A route that serves ``content`` as it is, with its digest."""
    return lambda exchange: exchange.send(200, {"Content-Type": media_type, "Docker-Content-Digest": digest(content)},
                                          content)


def image(layer_size: int = 1000) -> tuple[bytes, bytes, bytes]:
    """An image manifest, its config and its one layer (random bytes)."""
    layer = os.urandom(layer_size)
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": digest(config), "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": digest(layer), "size": len(layer)}],
    }).encode()
    return manifest, config, layer


def blob_path(content: bytes) -> str:
    return f"/v2/{REPOSITORY}/blobs/{digest(content)}"


# Bounded reads


@pytest.mark.parametrize("announced", [True, False], ids=["announced", "unannounced"])
def test_a_manifest_larger_than_distribution_accepts_is_refused_without_reading_it(hostile, announced):
    headers = {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": "sha256:" + "a" * 64}
    server = hostile(registry_of({
        ("HEAD", MANIFEST_PATH): lambda exchange: exchange.send(200, headers, length=ENDLESS),
        ("GET", MANIFEST_PATH): lambda exchange: exchange.send(200, headers, endless(),
                                                               length=ENDLESS if announced else None),
    }))

    result, _seconds = verify(server)

    assert result.get("failed"), result
    url = f"https://{server.address}{MANIFEST_PATH}"
    assert result["msg"] == (f"the manifest at {url} is {ENDLESS} bytes, more than the {MAX_MANIFEST} this collection "
                             "reads" if announced else
                             f"the manifest at {url} is more than the {MAX_MANIFEST} bytes this collection reads")
    assert server.sent < READ_AT_MOST


def test_an_error_body_without_end_is_read_up_to_a_limit_and_the_status_reported(hostile):
    manifest, _config, _layer = image()
    server = hostile(registry_of({
        ("HEAD", MANIFEST_PATH): serving(manifest),
        ("GET", MANIFEST_PATH): lambda exchange: exchange.send(500, {"Content-Type": "application/json"}, endless()),
    }))

    result, _seconds = verify(server)

    assert result.get("failed"), result
    assert result["msg"] == (f"registry {server.address} answered 500 Internal Server Error to GET of the manifest of "
                             f"{REPOSITORY}:1")
    assert server.sent < READ_AT_MOST


def test_an_index_of_thousands_of_platforms_is_refused_before_any_is_fetched(hostile):
    children = [{"mediaType": OCI_MANIFEST, "digest": f"sha256:{number:064x}", "size": 500,
                 "platform": {"os": "linux", "architecture": f"arch{number}"}} for number in range(5000)]
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}).encode()
    server = hostile(registry_of({("HEAD", MANIFEST_PATH): serving(index, OCI_INDEX),
                                  ("GET", MANIFEST_PATH): serving(index, OCI_INDEX)}))

    result, _seconds = verify(server, verify="blobs")

    assert result.get("failed"), result
    assert result["msg"] == (f"manifest list {digest(index)} lists 5000 manifests, more than the 256 this collection "
                             "follows")
    assert set(server.paths()) <= {MANIFEST_PATH, "/v2/"}, server.paths()


def assert_given_up_at_the_deadline(server: HostileServer, method: str) -> None:
    """The module, with a timeout of TIMEOUT seconds, fails soon after it naming the request that took too long."""
    result, seconds = verify(server, timeout=TIMEOUT)
    url = f"https://{server.address}{MANIFEST_PATH}"
    assert result.get("failed"), result
    assert result["msg"] == (f"registry https://{server.address} did not answer {method} {url}: {method} {url} took "
                             f"longer than {TIMEOUT} seconds (option timeout)")
    assert seconds < TIMEOUT + 20


def test_a_registry_that_never_ends_its_headers_is_given_up_at_the_deadline(hostile):
    server = hostile(registry_of({("HEAD", MANIFEST_PATH): lambda exchange: exchange.drip_headers(200, 0.5)}))

    assert_given_up_at_the_deadline(server, "HEAD")


def test_a_manifest_sent_a_byte_at_a_time_is_given_up_at_the_deadline(hostile):
    manifest, _config, _layer = image()
    headers = {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": digest(manifest)}
    server = hostile(registry_of({
        ("HEAD", MANIFEST_PATH): serving(manifest),
        ("GET", MANIFEST_PATH): lambda exchange: exchange.send(200, headers, (bytes([byte]) for byte in manifest),
                                                               length=len(manifest), delay=0.5),
    }))

    assert_given_up_at_the_deadline(server, "GET")


def test_a_blob_sent_a_byte_at_a_time_is_given_up_at_its_deadline(hostile):
    manifest, config, layer = image()
    server = hostile(registry_of({
        ("HEAD", MANIFEST_PATH): serving(manifest),
        ("GET", MANIFEST_PATH): serving(manifest),
        ("GET", blob_path(config)): serving(config, "application/octet-stream"),
        ("GET", blob_path(layer)): lambda exchange: exchange.send(200, {}, (bytes([byte]) for byte in layer),
                                                                  length=len(layer), delay=0.5),
    }))

    result, seconds = verify(server, verify="blobs", timeout=TIMEOUT)

    assert result.get("failed"), result
    assert result["msg"].startswith(f"the transfer of blob {digest(layer)} (layer 1 of 1 of manifest "
                                    f"{digest(manifest)}) from registry {server.address} failed: GET of blob "), result
    assert "took longer than" in result["msg"]
    assert "mismatch" not in result["msg"]
    assert seconds < TIMEOUT + 20


# A transfer that breaks off in the middle of a blob


def blob_cut_at(layer: bytes, *cuts: int):
    """A route that breaks off the n-th transfer of ``layer`` after ``cuts[n]`` bytes, and serves it whole after."""
    transfers = []

    def route(exchange: Exchange) -> None:
        transfers.append(None)
        if len(transfers) <= len(cuts):
            exchange.cut(200, {}, layer[:cuts[len(transfers) - 1]], length=len(layer))
        else:
            exchange.send(200, {}, layer)
    route.transfers = transfers
    return route


def blob_server(hostile, *cuts: int):
    manifest, config, layer = image(layer_size=200_000)
    cut = blob_cut_at(layer, *cuts)
    server = hostile(registry_of({
        ("HEAD", MANIFEST_PATH): serving(manifest),
        ("GET", MANIFEST_PATH): serving(manifest),
        ("GET", blob_path(config)): serving(config, "application/octet-stream"),
        ("GET", blob_path(layer)): cut,
    }))
    return server, manifest, layer, cut


def test_a_blob_whose_transfer_breaks_off_once_is_fetched_again_and_verifies(hostile):
    server, manifest, _layer, cut = blob_server(hostile, 70_000)

    result, _seconds = verify(server, verify="blobs")

    assert not result.get("failed"), result
    assert result["digest"] == digest(manifest)
    assert (result["blobs"]["blobs"], len(cut.transfers)) == (2, 2)


def test_a_blob_whose_transfer_breaks_off_twice_is_a_transfer_failure_not_a_corrupt_blob(hostile):
    server, manifest, layer, _cut = blob_server(hostile, 70_000, 150_000)

    result, _seconds = verify(server, verify="blobs")

    assert result.get("failed"), result
    assert result["msg"] == (f"the transfer of blob {digest(layer)} (layer 1 of 1 of manifest {digest(manifest)}) "
                             f"from registry {server.address} broke off twice, after 70000 and 150000 of 200000 "
                             "bytes; nothing is wrong with the blob as far as is known, run again")


def test_a_manifest_whose_transfer_breaks_off_is_a_transfer_failure_not_a_digest_mismatch(hostile):
    manifest, _config, _layer = image()
    headers = {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": digest(manifest)}
    server = hostile(registry_of({
        ("HEAD", MANIFEST_PATH): serving(manifest),
        ("GET", MANIFEST_PATH): lambda exchange: exchange.cut(200, headers, manifest[:100], length=len(manifest)),
    }))

    result, _seconds = verify(server)

    assert result.get("failed"), result
    url = f"https://{server.address}{MANIFEST_PATH}"
    assert result["msg"] == (f"registry https://{server.address} broke off its answer to GET {url} after 100 of "
                             f"{len(manifest)} bytes")


# Redirects


def test_a_redirect_to_plain_http_is_refused_and_nothing_connects_there(hostile, machine_ip):
    manifest, _config, _layer = image()
    with socket.socket() as plain:  # where a downgraded request would go: a port that takes connections
        plain.bind((machine_ip, 0))
        plain.listen(4)
        plain.setblocking(False)
        elsewhere = f"http://{machine_ip}:{plain.getsockname()[1]}{MANIFEST_PATH}"
        server = hostile(registry_of({
            ("HEAD", MANIFEST_PATH): serving(manifest),
            ("GET", MANIFEST_PATH): lambda exchange: exchange.send(307, {"Location": elsewhere + "?signature=x"}),
        }))

        result, _seconds = verify(server, username="ci", password="not-for-plain-http")

        assert result.get("failed"), result
        assert result["msg"] == (f"registry {server.address} redirected GET {MANIFEST_PATH} to {elsewhere}: a "
                                 "redirect from https is followed to https only"), result
        with pytest.raises(BlockingIOError):
            plain.accept()


# Credentials and unverified certificates


def challenging(exchange: Exchange) -> None:
    """A registry with accounts: 401 with a Basic challenge to whatever comes."""
    exchange.send(401, {"WWW-Authenticate": 'Basic realm="hostile"', "Content-Type": "application/json"},
                  b'{"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}')


def authorizations(server: HostileServer) -> list[str]:
    return [request.headers["authorization"] for request in server.requests if "authorization" in request.headers]


def test_credentials_are_withheld_from_a_registry_whose_certificate_is_not_verified(hostile):
    server = hostile(challenging, trusted=False)

    result, _seconds = verify(server, insecure=True, username="ci", password="not-for-a-stranger")

    assert result.get("failed"), result
    assert result["msg"].startswith(
        f"registry {server.address} answered 401 Unauthorized to HEAD of the manifest of {REPOSITORY}:1: its "
        "certificate could not be verified"), result
    assert "the credentials of user ci from the username and password options were not sent" in result["msg"]
    assert server.requests, "the module never reached the registry"
    assert authorizations(server) == []


def test_credentials_go_to_an_unverified_registry_only_when_allowed_explicitly(hostile):
    server = hostile(challenging, trusted=False)

    result, _seconds = verify(server, insecure=True, insecure_send_credentials=True, username="ci",
                              password="allowed-to-go")

    assert result.get("failed"), result
    assert "refused the credentials of user ci" in result["msg"]
    expected = "Basic " + base64.b64encode(b"ci:allowed-to-go").decode()
    assert authorizations(server) and set(authorizations(server)) == {expected}


def test_a_registry_whose_certificate_is_not_verified_gets_no_request_at_all_by_default(hostile):
    server = hostile(challenging, trusted=False)

    result, _seconds = verify(server, username="ci", password="not-for-a-stranger")

    assert result.get("failed"), result
    assert result["msg"].startswith(f"TLS verification of https://{server.address} failed: certificate verify failed")
    assert server.requests == []


@pytest.fixture(scope="module")
def unverified_registry(machine_ip, tmp_path_factory, scratch_registry_image):
    """A real registry with an account, whose certificate's CA this host does not trust, holding one image."""
    workdir = tmp_path_factory.mktemp("unverified-registry")
    ca = CA("a CA this host does not trust")
    (workdir / "ca.crt").write_bytes(ca.pem)
    port = free_port(FAULT_PORTS, machine_ip)
    with ScratchRegistry(f"dockyard-gcf-unverified-{uuid.uuid4().hex[:8]}", machine_ip, port, workdir,
                         certificate=ca.issue([machine_ip]), htpasswd=htpasswd_line("ci", "unverified-pass")) as registry:
        api = RegistryAPI(registry.url, str(workdir / "ca.crt"), auth=("ci", "unverified-pass"))
        registry.pushed = api.push_image(REPOSITORY, "1", [os.urandom(300_000), os.urandom(5000)])
        api.close()
        yield registry


def test_verify_blobs_reaches_an_unverified_registry_as_the_manifests_do(unverified_registry):
    name = f"{unverified_registry.address}/{REPOSITORY}:1"
    options = {"name": name, "state": "verified", "pull": False, "verify": "blobs", "insecure": True,
               "username": "ci", "password": "unverified-pass"}

    allowed = run_module(MODULE, {**options, "insecure_send_credentials": True})
    assert not allowed.get("failed"), allowed
    assert allowed["digest"] == unverified_registry.pushed["digest"]
    assert (allowed["blobs"]["blobs"], allowed["blobs"]["layers"]) == (3, 2)

    withheld = run_module(MODULE, options)
    assert withheld.get("failed"), withheld
    assert "its certificate could not be verified" in withheld["msg"]
    assert "were not sent" in withheld["msg"]

    secure = run_module(MODULE, {**options, "insecure": False})
    assert secure.get("failed"), secure
    assert secure["msg"].startswith(f"TLS verification of https://{unverified_registry.address} failed")
