"""From a manifest to its blobs: platforms chosen, blobs counted once, and every byte re-hashed and counted.

The verifier's tests run a small HTTP server in a thread that serves blobs the way a registry does.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import ssl
import threading

import pytest
from x509_certificates import Authority, key_pem, pem, registry_ca

from ansible_collections.dockyard.registry.plugins.module_utils._registry.blobs import (
    BlobVerifier,
    Platform,
    parse_platform,
    plan_image,
    select_children,
)
from ansible_collections.dockyard.registry.plugins.module_utils._registry.client import RegistryClient
from ansible_collections.dockyard.registry.plugins.module_utils._registry.daemon_trust import Trust
from ansible_collections.dockyard.registry.plugins.module_utils._registry.errors import (
    BlobFetchError,
    BlobMismatchError,
    ManifestFormatError,
    PlatformError,
)
from ansible_collections.dockyard.registry.plugins.module_utils._registry.media import OCI_INDEX, OCI_MANIFEST

REPOSITORY = "team/app"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob(data: bytes, media_type: str = "application/vnd.oci.image.layer.v1.tar") -> dict:
    return {"mediaType": media_type, "digest": digest(data), "size": len(data)}


def image(config: bytes, *layers: bytes) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": blob(config, "application/vnd.oci.image.config.v1+json"),
                       "layers": [blob(layer) for layer in layers]}).encode()


def config(os_name: str = "linux", architecture: str = "amd64", variant: str | None = None) -> bytes:
    return json.dumps({"os": os_name, "architecture": architecture, **({"variant": variant} if variant else {}),
                       "rootfs": {"type": "layers", "diff_ids": []}}).encode()


def index(*entries: tuple[bytes, dict | None]) -> bytes:
    manifests = []
    for manifest, platform in entries:
        entry = blob(manifest, OCI_MANIFEST)
        if platform is not None:
            entry["platform"] = platform
        manifests.append(entry)
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}).encode()


class Manifests:
    """Child manifests by digest, as ``fetch_manifest`` hands them out; records what was asked."""

    def __init__(self, *manifests: bytes) -> None:
        self.by_digest = {digest(manifest): manifest for manifest in manifests}
        self.asked = []

    def __call__(self, child):
        self.asked.append(child.digest)
        return self.by_digest[child.digest], None


AMD64, ARM64 = config("linux", "amd64"), config("linux", "arm64", "v8")
SHARED, AMD64_LAYER, ARM64_LAYER = b"shared layer", b"amd64 layer", b"arm64 layer"
AMD64_IMAGE, ARM64_IMAGE = image(AMD64, SHARED, AMD64_LAYER), image(ARM64, SHARED, ARM64_LAYER)
INDEX = index((AMD64_IMAGE, {"os": "linux", "architecture": "amd64"}),
              (ARM64_IMAGE, {"os": "linux", "architecture": "arm64", "variant": "v8"}),
              (b'{"schemaVersion": 2, "config": {}, "layers": []}', {"os": "unknown", "architecture": "unknown"}))


# Platforms


@pytest.mark.parametrize(("text", "platform"), [
    ("linux/amd64", Platform("linux", "amd64")),
    ("linux/arm64/v8", Platform("linux", "arm64", "v8")),
    ("windows/amd64", Platform("windows", "amd64")),
])
def test_parse_platform(text, platform):
    assert parse_platform(text) == platform
    assert str(platform) == text


@pytest.mark.parametrize("text", ["linux", "linux/", "/amd64", "linux/arm64/v8/x", ""])
def test_parse_platform_rejects_what_is_not_os_architecture(text):
    with pytest.raises(PlatformError, match=re.escape(f"platform: {text!r} is not os/architecture[/variant]")):
        parse_platform(text)


def test_a_platform_without_variant_matches_every_variant():
    assert Platform("linux", "arm64").matches(Platform("linux", "arm64", "v8"))
    assert Platform("linux", "arm64", "v8").matches(Platform("linux", "arm64", "v8"))
    assert not Platform("linux", "arm64", "v7").matches(Platform("linux", "arm64", "v8"))
    assert not Platform("linux", "amd64").matches(Platform("linux", "arm64"))


def test_select_children_fails_naming_the_platforms_the_index_has():
    with pytest.raises(PlatformError) as raised:
        select_children(json.loads(INDEX), "sha256:" + "1" * 64, Platform("linux", "s390x"))
    assert str(raised.value) == (f"platform: manifest list sha256:{'1' * 64} has no manifest for linux/s390x; it has "
                                 "linux/amd64, linux/arm64/v8, unknown/unknown")


# Plans


def test_a_single_image_plans_its_config_and_layers_config_first():
    plan = plan_image(AMD64_IMAGE, digest(AMD64_IMAGE), OCI_MANIFEST, Manifests(), None)
    assert [blob.digest for blob in plan.blobs.values()] == [digest(AMD64), digest(SHARED), digest(AMD64_LAYER)]
    assert [blob.role for blob in plan.blobs.values()] == ["config", "layer", "layer"]
    assert plan.size == len(AMD64) + len(SHARED) + len(AMD64_LAYER)
    assert plan.platforms == []
    assert list(plan.blobs.values())[2].where == f"layer 2 of 2 of manifest {digest(AMD64_IMAGE)}"


def test_an_index_plans_every_platform_and_each_shared_blob_once():
    manifests = Manifests(AMD64_IMAGE, ARM64_IMAGE, b'{"schemaVersion": 2, "config": {}, "layers": []}')
    with pytest.raises(ManifestFormatError, match="the config of manifest sha256:.* \\(unknown/unknown\\): "):
        plan_image(INDEX, digest(INDEX), OCI_INDEX, manifests, None)  # an empty config object is not a descriptor

    good_index = index((AMD64_IMAGE, {"os": "linux", "architecture": "amd64"}),
                       (ARM64_IMAGE, {"os": "linux", "architecture": "arm64", "variant": "v8"}))
    plan = plan_image(good_index, digest(good_index), None, Manifests(AMD64_IMAGE, ARM64_IMAGE), None)
    assert plan.platforms == ["linux/amd64", "linux/arm64/v8"]
    assert len(plan.manifests) == 2
    assert sorted(plan.blobs) == sorted({digest(x) for x in (AMD64, ARM64, SHARED, AMD64_LAYER, ARM64_LAYER)})


def test_a_platform_selects_one_manifest_of_an_index_and_fetches_only_that_one():
    manifests = Manifests(AMD64_IMAGE, ARM64_IMAGE)
    plan = plan_image(INDEX, digest(INDEX), OCI_INDEX, manifests, Platform("linux", "arm64"))
    assert manifests.asked == [digest(ARM64_IMAGE)]
    assert plan.platforms == ["linux/arm64/v8"]
    assert digest(AMD64_LAYER) not in plan.blobs and digest(ARM64_LAYER) in plan.blobs
    assert plan.blobs[digest(ARM64_LAYER)].where == (f"layer 2 of 2 of manifest {digest(ARM64_IMAGE)} "
                                                     "(linux/arm64/v8)")


def test_a_nested_index_is_followed():
    inner = index((AMD64_IMAGE, {"os": "linux", "architecture": "amd64"}))
    outer = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                        "manifests": [blob(inner, OCI_INDEX)]}).encode()
    plan = plan_image(outer, digest(outer), OCI_INDEX, Manifests(inner, AMD64_IMAGE), None)
    assert plan.platforms == ["linux/amd64"]
    assert digest(AMD64_LAYER) in plan.blobs


def test_a_platform_on_a_single_image_is_checked_against_its_config():
    plan = plan_image(AMD64_IMAGE, digest(AMD64_IMAGE), OCI_MANIFEST, Manifests(), Platform("linux", "arm64"))
    assert plan.blobs[digest(AMD64)].role == "config-for-platform"


@pytest.mark.parametrize(("manifest", "message"), [
    (b"not json", "is not JSON"),
    (b"[]", "is not a JSON object"),
    (json.dumps({"mediaType": OCI_MANIFEST, "layers": []}).encode(), "is not an image manifest: it lacks config"),
    (json.dumps({"mediaType": OCI_MANIFEST, "config": blob(b"c"), "layers": [{"digest": "sha256:abc", "size": 1}]})
     .encode(), f"layer 1 of 1 of manifest sha256:{'0' * 64}: 'sha256:abc' is not a valid digest"),
    (json.dumps({"mediaType": OCI_MANIFEST, "config": {**blob(b"c"), "size": -1}, "layers": []}).encode(),
     "size -1 is not a number of bytes"),
    (json.dumps({"mediaType": OCI_MANIFEST, "config": {**blob(b"c"), "size": True}, "layers": []}).encode(),
     "size True is not a number of bytes"),
    (json.dumps({"mediaType": OCI_INDEX, "manifests": {}}).encode(), "has no list of manifests"),
])
def test_malformed_manifests_fail_saying_what_is_wrong(manifest, message):
    with pytest.raises(ManifestFormatError, match=re.escape(message)):
        plan_image(manifest, "sha256:" + "0" * 64, None, Manifests(), None)


# The verifier, against a server in a thread


class BlobServer(http.server.ThreadingHTTPServer):
    """Serves ``/v2/<repository>/blobs/<digest>`` from ``blobs`` (digest -> bytes); what it serves can be swapped."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), BlobHandler)
        self.blobs = {}
        self.requests = []
        self.redirected = set()  # digests answered with a redirect to moved-<digest>
        self.moved_to = {}  # digest -> the scheme://host:port of another server the blob is redirected to
        self.cut_after = {}  # digest -> for each coming GET, the bytes sent before the connection is cut


class BlobHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a registry does

    def handle_one_request(self) -> None:
        # A TLS handshake on this plain port gets 400 at once, as Distribution (Go's net/http) answers it.
        if not isinstance(self.connection, ssl.SSLSocket) and self.rfile.peek(1)[:1] == b"\x16":
            self.wfile.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            self.close_connection = True
            return
        super().handle_one_request()

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        name = self.path.rsplit("/", 1)[-1]
        if name in self.server.moved_to:
            self.send_response(307)
            self.send_header("Location", self.server.moved_to[name] + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if name in self.server.redirected:
            self.send_response(307)
            self.send_header("Location", self.path.replace(name, f"moved-{name}"))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        name = name.removeprefix("moved-")
        data = self.server.blobs.get(name)
        if data is None:
            body = json.dumps({"errors": [{"code": "BLOB_UNKNOWN", "message": "blob unknown to registry"}]}).encode()
            self.send_response(404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.server.cut_after.get(name):
            self.wfile.write(data[:self.server.cut_after[name].pop(0)])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    blob_server = BlobServer()
    thread = threading.Thread(target=blob_server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield blob_server
    blob_server.shutdown()
    blob_server.server_close()


def client(server, ca_file=None) -> RegistryClient:
    """A client of the test server: plain HTTP as for an insecure registry, or TLS trusting ``ca_file``."""
    registry = f"127.0.0.1:{server.server_address[1]}"
    return RegistryClient(registry, timeout=10, insecure=ca_file is None,
                          trust=Trust(registry, ca_path=str(ca_file) if ca_file else None))


def verifier(server, **options) -> BlobVerifier:
    return BlobVerifier(client(server), REPOSITORY, **options)


def serve_image(server, *layers: bytes, config_bytes: bytes = AMD64):
    manifest = image(config_bytes, *layers)
    for data in (config_bytes, *layers):
        server.blobs[digest(data)] = data
    return plan_image(manifest, digest(manifest), OCI_MANIFEST, Manifests(), None)


def test_every_blob_is_fetched_once_and_every_byte_counted(server):
    layers = [bytes([n]) * (300_000 + n) for n in range(5)]
    plan = serve_image(server, *layers, layers[0])  # a layer listed twice is fetched once
    checked = verifier(server, workers=3, chunk_size=4096).verify(plan)
    assert {key: checked[key] for key in ("manifests", "blobs", "configs", "layers", "bytes")} == {
        "manifests": 1, "blobs": 6, "configs": 1, "layers": 5, "bytes": len(AMD64) + sum(map(len, layers))}
    assert sorted(server.requests) == sorted(f"/v2/{REPOSITORY}/blobs/{d}" for d in plan.blobs)


def test_an_altered_blob_fails_naming_repository_expected_and_found(server):
    good, altered = b"a" * 100_000, b"b" * 100_000
    plan = serve_image(server, b"fine layer", good)
    server.blobs[digest(good)] = altered  # same size, other bytes
    with pytest.raises(BlobMismatchError) as raised:
        verifier(server).verify(plan)
    assert str(raised.value) == (
        f"blob mismatch in repository {REPOSITORY}: expected {digest(good)}, found {digest(altered)} "
        f"(layer 2 of 2 of manifest {plan.manifests[0].digest}, 100000 bytes)")


def test_a_short_blob_fails_naming_both_sizes(server):
    layer = b"x" * 5000
    plan = serve_image(server, layer)
    server.blobs[digest(layer)] = layer[:4000]
    with pytest.raises(BlobMismatchError, match=re.escape(
            f"blob {digest(layer)} (layer 1 of 1 of manifest {plan.manifests[0].digest}) should be 5000 bytes, "
            f"but the registry served 4000 bytes, which hash to {digest(layer[:4000])}")):
        verifier(server).verify(plan)


def test_a_longer_blob_fails_too(server):
    layer = b"x" * 5000
    plan = serve_image(server, layer)
    server.blobs[digest(layer)] = layer + b"tail"
    with pytest.raises(BlobMismatchError, match="should be 5000 bytes, but the registry served 5004 bytes"):
        verifier(server).verify(plan)


def test_verification_stops_at_the_first_altered_blob(server):
    """Big blobs go first; once one fails, the blobs not yet started are not fetched."""
    layers = [bytes([n]) * (50_000 + 1000 * n) for n in range(6)]
    plan = serve_image(server, *layers)
    for number in (2, 5):
        server.blobs[digest(layers[number])] = b"\0" * len(layers[number])
    with pytest.raises(BlobMismatchError, match=re.escape(f"expected {digest(layers[5])}")):
        verifier(server, workers=1).verify(plan)
    assert server.requests[0] == f"/v2/{REPOSITORY}/blobs/{digest(layers[5])}"
    # The worker judges each blob itself: once one fails, it starts no other, whenever the verifying thread hears of it.
    assert len(server.requests) == 1


def test_a_missing_blob_fails_with_the_registry_error(server):
    plan = serve_image(server, b"layer")
    del server.blobs[digest(b"layer")]
    with pytest.raises(BlobFetchError) as raised:
        verifier(server).verify(plan)
    assert str(raised.value) == (
        f"registry {client(server).registry} answered 404 Not Found to GET of blob {digest(b'layer')} "
        f"(layer 1 of 1 of manifest {plan.manifests[0].digest}) in repository {REPOSITORY}: "
        "BLOB_UNKNOWN blob unknown to registry")


def test_redirects_are_followed(server):
    layer = b"redirected layer"
    plan = serve_image(server, layer)
    server.redirected.add(digest(layer))
    assert verifier(server).verify(plan)["bytes"] == plan.size
    assert f"/v2/{REPOSITORY}/blobs/moved-{digest(layer)}" in server.requests


def test_a_transfer_cut_short_is_a_transfer_failure_not_a_corrupt_blob(server):
    layer = b"q" * 3_000_000
    plan = serve_image(server, layer)
    server.cut_after[digest(layer)] = [1_000_000, 2_000_000]  # where each of two transfers breaks off
    with pytest.raises(BlobFetchError) as raised:
        verifier(server).verify(plan)
    assert str(raised.value) == (
        f"the transfer of blob {digest(layer)} (layer 1 of 1 of manifest {plan.manifests[0].digest}) from registry "
        f"{client(server).registry} broke off twice, after 1000000 and 2000000 of 3000000 bytes; nothing is wrong "
        "with the blob as far as is known, run again")


def test_a_transfer_cut_once_is_tried_again_and_passes(server):
    layer = b"r" * 3_000_000
    plan = serve_image(server, layer)
    server.cut_after[digest(layer)] = [1_500_000]
    assert verifier(server).verify(plan)["bytes"] == plan.size


def test_a_blob_the_registry_serves_short_every_time_is_a_mismatch(server):
    layer = b"s" * 3_000_000
    plan = serve_image(server, layer)
    server.cut_after[digest(layer)] = [1_000_000, 1_000_000]
    with pytest.raises(BlobMismatchError, match=re.escape(
            f"should be 3000000 bytes, but the registry served 1000000 bytes, which hash to "
            f"{digest(layer[:1_000_000])}")):
        verifier(server).verify(plan)


def test_a_single_image_for_another_platform_fails_naming_both(server):
    manifest = image(AMD64, b"layer")
    server.blobs.update({digest(AMD64): AMD64, digest(b"layer"): b"layer"})
    plan = plan_image(manifest, digest(manifest), OCI_MANIFEST, Manifests(), Platform("linux", "arm64"))
    with pytest.raises(PlatformError) as raised:
        verifier(server).verify(plan)
    assert str(raised.value) == f"platform: manifest {digest(manifest)} is an image for linux/amd64, not linux/arm64"
    plan = plan_image(manifest, digest(manifest), OCI_MANIFEST, Manifests(), Platform("linux", "amd64"))
    assert verifier(server).verify(plan)["blobs"] == 2


# Over TLS (TLSSocket under http.client), with certificates made here


def _ca(directory, name: str = "ca") -> Authority:
    """A CA as the registry_pki role makes one, its certificate written to ``directory/<name>.crt``."""
    ca = registry_ca(name)
    (directory / f"{name}.crt").write_bytes(ca.pem)
    return ca


def _server_certificate(directory, ca: Authority, ip: str) -> None:
    """A certificate for ``ip`` (as IP SAN) from ``ca``, and its key: ``directory/server.crt`` and ``server.key``."""
    certificate, key = ca.issue_with_key([ip], common_name="server")
    (directory / "server.crt").write_bytes(pem(certificate))
    (directory / "server.key").write_bytes(key_pem(key))


@pytest.fixture
def tls_server(tmp_path):
    """The blob server over TLS, its certificate (for 127.0.0.1) from a CA written to ``tmp_path/ca.crt``."""
    _server_certificate(tmp_path, _ca(tmp_path), "127.0.0.1")
    blob_server = BlobServer()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "server.crt", tmp_path / "server.key")
    # The handshake in each connection's own thread, not in the accepting one (a failed one must not hold it up).
    blob_server.socket = context.wrap_socket(blob_server.socket, server_side=True, do_handshake_on_connect=False)
    thread = threading.Thread(target=blob_server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield blob_server
    blob_server.shutdown()
    blob_server.server_close()


def tls_verifier(server, ca_file, **options) -> BlobVerifier:
    return BlobVerifier(client(server, ca_file), REPOSITORY, **options)


def test_blobs_stream_over_tls_through_keep_alive_connections(tls_server, tmp_path):
    layers = [bytes([n]) * (3_000_000 + n) for n in range(4)]
    plan = serve_image(tls_server, *layers)
    checked = tls_verifier(tls_server, tmp_path / "ca.crt", workers=2).verify(plan)
    assert (checked["blobs"], checked["bytes"]) == (5, plan.size)


def test_an_altered_blob_over_tls_fails_too(tls_server, tmp_path):
    layer = b"y" * 2_000_000
    plan = serve_image(tls_server, layer)
    tls_server.blobs[digest(layer)] = b"z" * 2_000_000
    with pytest.raises(BlobMismatchError, match=re.escape(f"expected {digest(layer)}, found {digest(b'z' * 2_000_000)}")):
        tls_verifier(tls_server, tmp_path / "ca.crt").verify(plan)


def test_a_redirect_from_https_to_plain_http_is_refused_and_nothing_asked_there(tls_server, server, tmp_path):
    layer = b"a layer a man in the middle would like to serve"
    plan = serve_image(tls_server, layer)
    server.blobs[digest(layer)] = layer
    tls_server.moved_to[digest(layer)] = f"http://127.0.0.1:{server.server_address[1]}"

    with pytest.raises(BlobFetchError, match=re.escape(
            f"redirected GET /v2/{REPOSITORY}/blobs/{digest(layer)} to "
            f"http://127.0.0.1:{server.server_address[1]}/v2/{REPOSITORY}/blobs/{digest(layer)}: a redirect from "
            "https is followed to https only")):
        tls_verifier(tls_server, tmp_path / "ca.crt").verify(plan)
    assert server.requests == []


@pytest.mark.parametrize("location", ["ftp://127.0.0.1:21", "file://", "HTTP://127.0.0.1:1"])
def test_a_redirect_to_another_scheme_is_refused(tls_server, tmp_path, location):
    layer = b"layer"
    plan = serve_image(tls_server, layer)
    tls_server.moved_to[digest(layer)] = location

    with pytest.raises(BlobFetchError, match="is followed to https only"):
        tls_verifier(tls_server, tmp_path / "ca.crt").verify(plan)


def test_a_plain_http_registry_the_user_opted_into_is_followed_to_https(tls_server, server):
    layer = b"moved to a TLS server"
    plan = serve_image(server, layer)
    tls_server.blobs[digest(layer)] = layer
    server.moved_to[digest(layer)] = f"https://127.0.0.1:{tls_server.server_address[1]}"

    assert verifier(server).verify(plan)["bytes"] == plan.size
    assert f"/v2/{REPOSITORY}/blobs/{digest(layer)}" in tls_server.requests


def test_a_certificate_from_another_ca_fails_the_handshake(tls_server, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    _ca(other, "unrelated CA")
    plan = serve_image(tls_server, b"layer")
    with pytest.raises(BlobFetchError, match=r"cannot fetch blob sha256:[0-9a-f]{64} \([^)]+\): TLS verification of https://127\.0\.0\.1:\d+ "
                                             r"failed: certificate verify failed: unable to get local issuer certificate"):
        tls_verifier(tls_server, other / "unrelated CA.crt").verify(plan)


def test_a_certificate_for_another_address_fails_the_handshake(tmp_path):
    _server_certificate(tmp_path, _ca(tmp_path), "127.0.0.2")
    blob_server = BlobServer()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "server.crt", tmp_path / "server.key")
    # The handshake in each connection's own thread, not in the accepting one (a failed one must not hold it up).
    blob_server.socket = context.wrap_socket(blob_server.socket, server_side=True, do_handshake_on_connect=False)
    threading.Thread(target=blob_server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        plan = serve_image(blob_server, b"layer")
        with pytest.raises(BlobFetchError, match="failed: IP address mismatch, certificate is not valid for '127.0.0.1'"):
            tls_verifier(blob_server, tmp_path / "ca.crt").verify(plan)
    finally:
        blob_server.shutdown()
        blob_server.server_close()


# A blob's deadline


@pytest.mark.parametrize(("size", "seconds"), [
    (0, 60),
    (256 << 10, 61),
    (100 * (256 << 10), 160),
    (int(5.5 * (1 << 30)), 60 + 6 * 3600),  # past the cap: 5.5 GiB at 256 KiB/s would take longer than 6 hours
    (1 << 50, 60 + 6 * 3600),  # a petabyte, as a hostile manifest may declare: the task is not held for 136 years
])
def test_a_blobs_deadline_grows_with_its_size_up_to_six_hours(size, seconds):
    client = RegistryClient("registry.example.test:5000", timeout=60, trust=Trust("registry.example.test:5000"))
    assert client.blob_deadline(size, "a blob").seconds == pytest.approx(seconds, abs=1)
