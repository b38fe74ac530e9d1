"""``dockyard.registry.registry_image`` against the real Docker daemon and the real TLS registry.

Each test builds its own tiny image (``FROM scratch`` plus one file with unique content) and pushes it
to its own repository, so tests neither pull from the internet nor depend on each other.
"""

from __future__ import annotations

import json
import subprocess
import uuid

import docker
import pytest
import requests
from scratch_registry import CA, FAULT_PORTS, RegistryAPI, ScratchRegistry, free_port
from x509_certificates import registry_ca

from support import push_credentials, run_module, scratch_context

MODULE = "dockyard.registry.registry_image"
MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)


@pytest.fixture
def repository(registry) -> str:
    """``<registry>/test/<unique name>``: a repository the registry has never seen."""
    return f"{registry.address}/test/registry-image-{uuid.uuid4().hex[:12]}"


def push(name: str, image, *extra: str) -> dict:
    """Pushed with the local inventory's push account: the host's stored login only pulls."""
    return run_module(MODULE, {"name": name, "source": image.id, **push_credentials()}, *extra)


def manifest_status(registry, reference: str) -> int:
    """The registry's HTTP status for a HEAD of ``repository:tag``, asked independently of the module."""
    repository, tag = reference.split("/", 1)[1].rsplit(":", 1)
    response = requests.head(f"{registry.url}/v2/{repository}/manifests/{tag}", headers={"Accept": ", ".join(MANIFEST_TYPES)},
                             verify=str(registry.ca_path), auth=registry.auth, timeout=30)
    return response.status_code


def skopeo_digest(registry, reference: str) -> str:
    inspected = subprocess.run(
        ["skopeo", "inspect", "--cert-dir", str(registry.ca_path.parent), f"docker://{reference}"],
        check=True, capture_output=True, text=True, timeout=60)
    return json.loads(inspected.stdout)["Digest"]


def fresh_ca(path) -> str:
    """A CA certificate nobody signed anything with, written to ``path``."""
    path.write_bytes(registry_ca("Unrelated test CA").pem)
    return str(path)


def assert_ok(result: dict) -> dict:
    assert not result.get("failed"), result.get("msg", result)
    return result


# state=pushed


def test_push_returns_the_digest_the_registry_serves(registry, repository, image):
    name = f"{repository}:1.0"
    result = assert_ok(push(name, image))
    assert result["changed"] is True
    assert result["digest"].startswith("sha256:") and len(result["digest"]) == 71
    assert skopeo_digest(registry, name) == result["digest"]
    assert (result["name"], result["tag"], result["image_id"]) == (name, "1.0", image.id)
    assert result["repository"] == repository.split("/", 1)[1]


def test_push_four_times_check_real_check_real(registry, repository, image, daemon):
    """Check mode predicts a push without doing it; once pushed, neither mode reports a change."""
    name = f"{repository}:1.0"

    predicted = assert_ok(push(name, image, "--check"))
    assert predicted["changed"] is True
    assert manifest_status(registry, name) == 404
    with pytest.raises(docker.errors.ImageNotFound):
        daemon.images.get(name)  # not even tagged

    pushed = assert_ok(push(name, image))
    assert pushed["changed"] is True

    for mode in (("--check",), ()):
        again = assert_ok(push(name, image, *mode))
        assert again["changed"] is False, mode
        assert again["digest"] == pushed["digest"]


def test_push_of_another_image_to_the_same_tag_is_a_change(repository, image, daemon):
    name = f"{repository}:1.0"
    first = assert_ok(push(name, image))
    other, _logs = daemon.images.build(fileobj=scratch_context(uuid.uuid4().hex), custom_context=True, rm=True)
    try:
        second = assert_ok(push(name, other))
        assert second["changed"] is True
        assert second["digest"] != first["digest"]
    finally:
        daemon.images.remove(other.id, force=True)


def test_push_of_a_missing_source_fails_naming_it(repository):
    missing = f"dockyard-test/absent:{uuid.uuid4().hex}"
    result = run_module(MODULE, {"name": f"{repository}:1.0", "source": missing})
    assert result["failed"] is True
    assert result["msg"].startswith("source: the Docker daemon at unix:///var/run/docker.sock has no image "
                                    f"'{missing}' to push")


def test_push_by_digest_fails_asking_for_a_tag(repository, image):
    result = push(f"{repository}@sha256:{'0' * 64}", image)
    assert result["failed"] is True
    assert "name: state=pushed needs a tag" in result["msg"]


def test_name_that_does_not_parse_fails_naming_name(registry, image):
    result = push(f"{registry.address}/Team/App:1.0", image)
    assert result["failed"] is True
    assert result["msg"].startswith(f"name: '{registry.address}/Team/App:1.0' is not a valid image reference: "
                                    "repository name 'Team/App' must be lower case.")


# state=pulled


def test_pull_by_digest_on_a_host_without_the_image(registry, repository, image, daemon):
    pushed = assert_ok(push(f"{repository}:1.0", image))
    daemon.images.remove(image.id, force=True)  # now this host is one that never had it
    by_digest = f"{repository}@{pushed['digest']}"

    pulled = assert_ok(run_module(MODULE, {"name": by_digest, "state": "pulled"}))
    assert pulled["changed"] is True
    assert (pulled["digest"], pulled["image_id"]) == (pushed["digest"], image.id)
    assert f"{repository}@{pushed['digest']}" in daemon.images.get(image.id).attrs["RepoDigests"]

    again = assert_ok(run_module(MODULE, {"name": by_digest, "state": "pulled"}))
    assert again["changed"] is False
    assert again["digest"] == pushed["digest"]


def test_pull_by_tag_is_unchanged_when_the_host_has_what_the_registry_serves(repository, image, daemon):
    name = f"{repository}:1.0"
    pushed = assert_ok(push(name, image))
    present = assert_ok(run_module(MODULE, {"name": name, "state": "pulled"}))
    assert (present["changed"], present["digest"], present["image_id"]) == (False, pushed["digest"], image.id)

    daemon.images.remove(name)  # the image stays (the build tag holds it); only this tag goes
    predicted = assert_ok(run_module(MODULE, {"name": name, "state": "pulled"}, "--check"))
    assert predicted["changed"] is True
    with pytest.raises(docker.errors.ImageNotFound):
        daemon.images.get(name)
    pulled = assert_ok(run_module(MODULE, {"name": name, "state": "pulled"}))
    assert (pulled["changed"], pulled["digest"]) == (True, pushed["digest"])
    assert daemon.images.get(name).id == image.id


def test_pull_of_a_tag_the_registry_lacks_fails_with_manifest_unknown(registry, repository):
    result = run_module(MODULE, {"name": f"{repository}:nope", "state": "pulled"})
    assert result["failed"] is True
    assert result["msg"] == (f"manifest unknown: registry {registry.address} has no manifest for "
                             f"{repository.split('/', 1)[1]}:nope (404)")


# state=verified


def test_verified_returns_four_equal_digests(repository, image):
    pushed = assert_ok(push(f"{repository}:1.0", image))
    digest = pushed["digest"]
    result = assert_ok(run_module(MODULE, {"name": f"{repository}:1.0", "state": "verified", "digest": digest}))
    assert result["digests"] == {"expected": digest, "head": digest, "manifest": digest, "repo_digest": digest}
    assert (result["digest"], result["changed"], result["image_id"]) == (digest, False, image.id)


def test_verified_by_a_digest_in_the_name_without_pull_reads_only_the_registry(repository, image):
    digest = assert_ok(push(f"{repository}:1.0", image))["digest"]
    result = assert_ok(run_module(MODULE, {"name": f"{repository}@{digest}", "state": "verified", "pull": False}))
    assert result["digests"] == {"expected": digest, "head": digest, "manifest": digest}
    assert result["changed"] is False


def test_verified_pulls_by_digest_on_a_host_without_the_image(repository, image, daemon):
    name = f"{repository}:1.0"
    digest = assert_ok(push(name, image))["digest"]
    daemon.images.remove(image.id, force=True)

    predicted = assert_ok(run_module(MODULE, {"name": name, "state": "verified"}, "--check"))
    assert predicted["changed"] is True
    assert predicted["digests"] == {"head": digest, "manifest": digest}

    result = assert_ok(run_module(MODULE, {"name": name, "state": "verified"}))
    assert result["changed"] is True  # the pull brought the image to this host
    assert result["digests"] == {"head": digest, "manifest": digest, "repo_digest": digest}
    assert assert_ok(run_module(MODULE, {"name": name, "state": "verified"}))["changed"] is False


def test_verified_with_a_wrong_digest_fails_naming_both_values(repository, image):
    digest = assert_ok(push(f"{repository}:1.0", image))["digest"]
    wrong = "sha256:" + "0" * 64
    result = run_module(MODULE, {"name": f"{repository}:1.0", "state": "verified", "digest": wrong})
    assert result["failed"] is True
    assert result["msg"] == (f"digest mismatch: head (the registry's Docker-Content-Digest for HEAD) is {digest}, "
                             f"but expected (the expected digest) is {wrong}")
    assert result["digests"]["expected"] == wrong


def test_verified_with_a_malformed_digest_fails_naming_the_option(repository):
    result = run_module(MODULE, {"name": f"{repository}:1.0", "state": "verified", "digest": "sha256:ABC"})
    assert result["failed"] is True
    assert result["msg"].startswith("digest: 'sha256:ABC' is not a valid digest: the hexadecimal part must be lower")


# The CA bundles the environment may name, which the daemon does not read for a registry.
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")


def test_verified_trusts_the_certs_d_ca_whatever_ca_bundle_the_environment_names(
        repository, image, tmp_path, monkeypatch):
    digest = assert_ok(push(f"{repository}:1.0", image))["digest"]
    unrelated = fresh_ca(tmp_path / "unrelated-ca.pem")
    for variable in CA_BUNDLE_VARIABLES:
        monkeypatch.setenv(variable, unrelated)
    result = assert_ok(run_module(MODULE, {"name": f"{repository}:1.0", "state": "verified", "pull": False}))
    assert result["digest"] == digest


def test_verified_refuses_a_registry_only_the_environments_ca_bundle_would_verify(machine_ip, tmp_path, monkeypatch,
                                                                                  scratch_registry_image):
    """The CA of this registry is in REQUESTS_CA_BUNDLE and the like, and nowhere the daemon looks: refused."""
    ca = CA("a CA only the environment names")
    (tmp_path / "ca.crt").write_bytes(ca.pem)
    port = free_port(FAULT_PORTS, machine_ip)
    with ScratchRegistry(f"dockyard-gcf-env-{uuid.uuid4().hex[:8]}", machine_ip, port, tmp_path,
                         certificate=ca.issue([machine_ip])) as registry:
        api = RegistryAPI(registry.url, str(tmp_path / "ca.crt"))
        api.push_image("test/env", "1", [b"layer"])
        api.close()
        for variable in CA_BUNDLE_VARIABLES:
            monkeypatch.setenv(variable, str(tmp_path / "ca.crt"))
        result = run_module(MODULE, {"name": f"{registry.address}/test/env:1", "state": "verified", "pull": False,
                                     "verify": "blobs"})
    assert result.get("failed"), result
    assert result["msg"].startswith(f"TLS verification of https://{registry.address} failed: certificate verify "
                                    "failed: unable to get local issuer certificate"), result["msg"]


def test_verified_without_the_ca_fails_on_certificate_verification(registry, repository, image, tmp_path):
    assert_ok(push(f"{repository}:1.0", image))
    unrelated = fresh_ca(tmp_path / "unrelated-ca.pem")
    result = run_module(MODULE, {"name": f"{repository}:1.0", "state": "verified", "ca_path": unrelated})
    assert result["failed"] is True
    assert result["msg"].startswith(f"TLS verification of {registry.url} failed: "
                                    "certificate verify failed: unable to get local issuer certificate")
    assert f"Trusted CAs: ca_path {unrelated}; ca_path must name the CA" in result["msg"]


def test_unreachable_registry_fails_keeping_the_reason(machine_ip):
    result = run_module(MODULE, {"name": f"{machine_ip}:1/test/app:1.0", "state": "verified", "pull": False})
    assert result["failed"] is True
    assert result["msg"] == f"cannot reach registry https://{machine_ip}:1: Connection refused"
