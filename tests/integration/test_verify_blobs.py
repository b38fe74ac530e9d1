"""``registry_image`` with ``verify: blobs`` against a registry whose storage this test can reach and alter.

The registry is a container of the local registry image with its ``/var/lib/registry`` on a directory of
the test, TLS from a CA of the test trusted through certs.d. Images are pushed through the registry API
(so the test controls every byte, and can make a multi-platform OCI index), and once through the daemon.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import uuid

import docker
import pytest
from scratch_registry import CA, PORTS, RegistryAPI, ScratchRegistry, certs_d_entry, free_port

from support import run_module

MODULE = "dockyard.registry.registry_image"


@pytest.fixture(scope="module")
def blob_registry(machine_ip, tmp_path_factory, scratch_registry_image):
    workdir = tmp_path_factory.mktemp("blobs-registry")
    storage = workdir / "storage"
    storage.mkdir()
    ca = CA("blobs test CA")
    port = free_port(PORTS, machine_ip)
    with ScratchRegistry(f"dockyard-blobs-{uuid.uuid4().hex[:8]}", machine_ip, port, workdir,
                         certificate=ca.issue([machine_ip]), storage=storage) as registry, \
            certs_d_entry(registry.address, ca.pem) as certs_dir:
        registry.api = RegistryAPI(registry.url, str(certs_dir / "ca.crt"))
        yield registry
        registry.api.close()


@pytest.fixture
def repository() -> str:
    return f"test/blobs-{uuid.uuid4().hex[:12]}"


def verify(registry, repository: str, reference: str = "1", *extra: str, **options) -> dict:
    separator = "@" if reference.startswith("sha256:") else ":"
    return run_module(MODULE, {"name": f"{registry.address}/{repository}{separator}{reference}", "state": "verified",
                               "pull": False, **options}, *extra)


def assert_ok(result: dict) -> dict:
    assert not result.get("failed"), result.get("msg", result)
    assert result["changed"] is False
    return result


def alter(path, offset: int) -> str:
    """Flip one byte of the blob file ``path`` in place (same size); return the digest of what is there now."""
    with open(path, "r+b") as blob:
        blob.seek(offset)
        byte = blob.read(1)
        blob.seek(offset)
        blob.write(bytes([byte[0] ^ 0xFF]))
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_blobs_rehashes_every_blob_and_says_what_it_checked(blob_registry, repository):
    layers = [os.urandom(size) for size in (3 << 20, 1 << 20, 12345)]
    pushed = blob_registry.api.push_image(repository, "1", layers)
    for mode in (("--check",), ()):
        result = assert_ok(verify(blob_registry, repository, "1", *mode, verify="blobs"))
        assert result["digest"] == pushed["digest"]
        checked = result["blobs"]
        assert {key: checked[key] for key in ("manifests", "platforms", "blobs", "configs", "layers", "bytes")} == {
            "manifests": 1, "platforms": [], "blobs": 4, "configs": 1, "layers": 3,
            "bytes": pushed["config"]["size"] + sum(map(len, layers))}
        assert checked["seconds"] >= 0


def test_a_blob_altered_on_disk_fails_blobs_while_manifest_still_passes(blob_registry, repository):
    layers = [os.urandom(1 << 20), os.urandom(2 << 20), os.urandom(4096)]
    pushed = blob_registry.api.push_image(repository, "1", layers)
    target = pushed["layers"][1]
    found = alter(blob_registry.blob_path(target["digest"]), offset=(1 << 20) + 7)

    failed = verify(blob_registry, repository, verify="blobs")
    assert failed["failed"] is True
    assert failed["msg"] == (f"blob mismatch in repository {repository}: expected {target['digest']}, found {found} "
                             f"(layer 2 of 3 of manifest {pushed['digest']}, {2 << 20} bytes)")
    assert "blobs" not in failed

    manifest_only = assert_ok(verify(blob_registry, repository))
    assert manifest_only["digests"] == {"head": pushed["digest"], "manifest": pushed["digest"]}


def test_a_truncated_blob_fails_naming_both_sizes(blob_registry, repository):
    pushed = blob_registry.api.push_image(repository, "1", [os.urandom(100_000)])
    layer = pushed["layers"][0]
    path = blob_registry.blob_path(layer["digest"])
    remains = path.read_bytes()[:60_000]
    path.write_bytes(remains)

    failed = verify(blob_registry, repository, verify="blobs")
    assert failed["failed"] is True
    assert failed["msg"] == (
        f"blob mismatch in repository {repository}: blob {layer['digest']} (layer 1 of 1 of manifest "
        f"{pushed['digest']}) should be 100000 bytes, but the registry served 60000 bytes, which hash to "
        f"sha256:{hashlib.sha256(remains).hexdigest()}")
    assert assert_ok(verify(blob_registry, repository))["digest"] == pushed["digest"]


# A multi-platform OCI index


@pytest.fixture
def index(blob_registry, repository):
    shared, amd64_only, arm64_only = os.urandom(300_000), os.urandom(200_000), os.urandom(100_000)
    pushed = blob_registry.api.push_index(repository, "multi", {
        ("linux", "amd64"): [shared, amd64_only],
        ("linux", "arm64"): [shared, arm64_only],
    })
    pushed["repository"] = repository
    return pushed


def test_an_index_is_checked_for_every_platform_each_shared_blob_once(blob_registry, index):
    result = assert_ok(verify(blob_registry, index["repository"], "multi", verify="blobs"))
    amd64, arm64 = index["children"][("linux", "amd64")], index["children"][("linux", "arm64")]
    distinct = {blob["digest"]: blob["size"] for child in (amd64, arm64) for blob in (child["config"], *child["layers"])}
    checked = result["blobs"]
    assert (checked["manifests"], checked["platforms"]) == (2, ["linux/amd64", "linux/arm64"])
    assert (checked["blobs"], checked["configs"], checked["layers"]) == (5, 2, 3)
    assert checked["bytes"] == sum(distinct.values())


def test_platform_checks_only_that_platforms_image(blob_registry, index):
    amd64_only = index["children"][("linux", "amd64")]["layers"][1]
    found = alter(blob_registry.blob_path(amd64_only["digest"]), offset=5)
    amd64_manifest = index["children"][("linux", "amd64")]["digest"]

    arm64 = assert_ok(verify(blob_registry, index["repository"], "multi", verify="blobs", platform="linux/arm64"))
    assert (arm64["blobs"]["manifests"], arm64["blobs"]["platforms"], arm64["blobs"]["blobs"]) == (
        1, ["linux/arm64"], 3)

    expected_message = (f"blob mismatch in repository {index['repository']}: expected {amd64_only['digest']}, "
                        f"found {found} (layer 2 of 2 of manifest {amd64_manifest} (linux/amd64), 200000 bytes)")
    for options in ({"platform": "linux/amd64"}, {}):
        failed = verify(blob_registry, index["repository"], "multi", verify="blobs", **options)
        assert failed["failed"] is True, options
        assert failed["msg"] == expected_message, options


def test_a_platform_manifest_altered_on_disk_fails_naming_it(blob_registry, index):
    arm64 = index["children"][("linux", "arm64")]
    path = blob_registry.blob_path(arm64["digest"])
    original = path.read_bytes()
    altered = original.replace(b'  "schemaVersion"', b' "schemaVersion" ', 1)  # still JSON, same size
    assert altered != original and len(altered) == len(original)
    path.write_bytes(altered)

    failed = verify(blob_registry, index["repository"], "multi", verify="blobs", platform="linux/arm64")
    assert failed["failed"] is True
    assert failed["msg"] == (
        f"manifest mismatch in repository {index['repository']}: expected {arm64['digest']} ({arm64['size']} bytes; "
        f"manifest 2 of 2 of manifest list {index['digest']} (linux/arm64)), "
        f"found sha256:{hashlib.sha256(altered).hexdigest()} ({len(altered)} bytes)")
    assert assert_ok(verify(blob_registry, index["repository"], "multi"))["digest"] == index["digest"]


def test_a_platform_the_index_lacks_fails_naming_those_it_has(blob_registry, index):
    failed = verify(blob_registry, index["repository"], "multi", verify="blobs", platform="linux/s390x")
    assert failed["failed"] is True
    assert failed["msg"] == (f"platform: manifest list {index['digest']} has no manifest for linux/s390x; "
                             "it has linux/amd64, linux/arm64")


def test_platform_is_refused_without_verify_blobs(blob_registry, index):
    failed = verify(blob_registry, index["repository"], "multi", platform="linux/amd64")
    assert failed["failed"] is True
    assert failed["msg"] == "platform is only used with state=verified and verify=blobs"


def test_a_platform_of_a_single_image_must_match_its_config(blob_registry, repository):
    pushed = blob_registry.api.push_image(repository, "1", [b"layer"], platform=("linux", "arm64"))
    assert assert_ok(verify(blob_registry, repository, verify="blobs", platform="linux/arm64"))["blobs"]["blobs"] == 2
    failed = verify(blob_registry, repository, verify="blobs", platform="linux/amd64")
    assert failed["failed"] is True
    assert failed["msg"] == f"platform: manifest {pushed['digest']} is an image for linux/arm64, not linux/amd64"


# An image as the Docker daemon pushes it (gzip layers, Docker media types)


def test_an_image_pushed_by_the_daemon_verifies_and_pulls(blob_registry, repository):
    client = docker.from_env()
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, data in {"Dockerfile": b"FROM scratch\nCOPY a /a\nCOPY b /b\n", "a": os.urandom(50_000),
                           "b": uuid.uuid4().bytes}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    built, _logs = client.images.build(fileobj=context, custom_context=True, rm=True)
    name = f"{blob_registry.address}/{repository}:1"
    try:
        pushed = run_module(MODULE, {"name": name, "source": built.id})
        assert not pushed.get("failed"), pushed
        result = assert_ok(run_module(MODULE, {"name": name, "state": "verified", "verify": "blobs"}))
        assert result["digest"] == pushed["digest"]
        assert result["digests"]["repo_digest"] == pushed["digest"]
        assert (result["blobs"]["manifests"], result["blobs"]["configs"], result["blobs"]["layers"]) == (1, 1, 2)
    finally:
        client.images.remove(built.id, force=True)
        client.close()
