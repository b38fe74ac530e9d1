"""``playbooks/gc.yml`` (the registry_server role's ``gc`` entry point) against a registry of the module's own
(``IsolatedSite``), checked from outside.

The shared registry on port 5000 is never touched: collecting garbage restarts the registry and deletes blobs.
Images are built here (``FROM scratch`` plus a file of unique content, so each has a layer of its own), pushed
with the Docker SDK and inspected through the registry API with ``requests``, trusting only the certs.d CA,
logged in with the local inventory's accounts like everything else. A multi-platform image is an OCI index of two
platforms, pushed through the registry API.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import re
import shutil
import subprocess
import tarfile
import time
import uuid
from pathlib import Path

import docker
import pytest
import requests
import yaml
from scratch_registry import RegistryAPI

from support import IsolatedSite, PlaybookRun, Registry, push_credentials, run_module, scratch_context

PORT = 5801
CONTAINER = f"dockyard-gcf-{PORT}"
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_TYPES = f"{MANIFEST_V2}, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json"
ROLE = "dockyard.registry.registry_server"


@dataclasses.dataclass(frozen=True)
class Pushed:
    """An image in the registry: its repository, manifest digest and the digests of its config and layers."""

    registry: Registry
    repository: str
    digest: str
    blobs: tuple[str, ...]  # config and layer

    @property
    def by_digest(self) -> str:
        return f"{self.registry.address}/{self.repository}@{self.digest}"


class MeasuredSite(IsolatedSite):
    """The isolated site with metrics on: each collection is recorded for node_exporter in a directory of its own."""

    @property
    def extra_vars(self) -> dict:
        return {**super().extra_vars, "registry_server_metrics_enabled": True,
                "registry_server_metrics_port": PORT + 1,
                "registry_server_metrics_textfile_dir": str(self.root / "textfile")}

    def gc_record(self) -> dict[str, float]:
        """The samples of the last collection's record, by name (one registry: one sample each)."""
        text = (self.root / "textfile" / f"{self.name}-gc.prom").read_text()
        return {line.split("{", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                if line and not line.startswith("#")}


@pytest.fixture(scope="module")
def site(request, tmp_path_factory, machine_ip, daemon) -> MeasuredSite:
    """``playbooks/site.yml`` deployed on port ``PORT`` with its own container, directories and CA."""
    isolated = MeasuredSite(tmp_path_factory.mktemp("gc"), PORT, CONTAINER)

    def remove() -> None:
        isolated.remove()
        # By name: the smoke image that site.yml pulled back shares its ID with the shared registry's copy.
        for image in daemon.images.list():
            for name in image.tags + image.attrs.get("RepoDigests", []):
                if name.startswith(f"{machine_ip}:{PORT}/"):
                    with contextlib.suppress(docker.errors.APIError):
                        daemon.images.remove(name)
        shutil.rmtree(isolated.root, ignore_errors=True)

    request.addfinalizer(remove)
    deployed = isolated.run()
    assert deployed.returncode == 0, str(deployed)
    return isolated


@pytest.fixture(scope="module")
def registry(site, machine_ip) -> Registry:
    return Registry(f"{machine_ip}:{PORT}")


@pytest.fixture(scope="module")
def api():
    """The registry API, trusting the CA passed with each request only (no environment, no proxies)."""
    session = requests.Session()
    session.trust_env = False
    yield session
    session.close()


def call(api, registry: Registry, method: str, path: str, **kwargs) -> requests.Response:
    return api.request(method, f"{registry.url}/v2/{path}", verify=str(registry.ca_path), auth=registry.auth,
                       timeout=30, **kwargs)


def push(daemon, api, registry: Registry, repository: str, tag: str) -> Pushed:
    """Build an image whose one layer no other image has, push it as ``repository:tag``, read its manifest back."""
    name = f"{registry.address}/{repository}"
    daemon.images.build(fileobj=scratch_context(uuid.uuid4().hex), custom_context=True, tag=f"{name}:{tag}", rm=True)
    daemon.api.reload_config()  # the site run logged this host in to the registry after the client was made
    # With the push account: the host's stored login only pulls.
    progress = list(daemon.images.push(name, tag=tag, stream=True, decode=True, auth_config=push_credentials()))
    errors = [line["error"] for line in progress if "error" in line]
    assert not errors, errors
    digest = next(line["aux"]["Digest"] for line in progress if "Digest" in (line.get("aux") or {}))
    manifest = call(api, registry, "GET", f"{repository}/manifests/{digest}", headers={"Accept": MANIFEST_V2})
    assert manifest.status_code == 200, manifest.text
    layers = [layer["digest"] for layer in manifest.json()["layers"]]
    assert len(layers) == 1
    return Pushed(registry, repository, digest, (manifest.json()["config"]["digest"], *layers))


def blob_status(api, image: Pushed, blob: str) -> int:
    return call(api, image.registry, "HEAD", f"{image.repository}/blobs/{blob}").status_code


def manifest_status(api, image: Pushed) -> int:
    return call(api, image.registry, "HEAD", f"{image.repository}/manifests/{image.digest}",
                headers={"Accept": MANIFEST_TYPES}).status_code


def delete_manifest(api, image: Pushed) -> None:
    """What deleting a tag means to Distribution: the manifest goes, by digest, with every tag on it."""
    deleted = call(api, image.registry, "DELETE", f"{image.repository}/manifests/{image.digest}")
    assert deleted.status_code == 202, deleted.text


def remove_local(daemon, image: Pushed) -> None:
    """Forget every local copy of the image, so that a pull must fetch it from the registry."""
    for local in daemon.images.list(name=f"{image.registry.address}/{image.repository}"):
        with contextlib.suppress(docker.errors.ImageNotFound):
            daemon.images.remove(local.id, force=True)


def docker_pull(reference: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", "pull", reference], check=False, capture_output=True, text=True, timeout=120)


def collect(site: IsolatedSite, **variables) -> PlaybookRun:
    return site.run("playbooks/gc.yml", extra_vars=variables)


def task_output(run: PlaybookRun, task: str) -> str:
    """What the run printed for the role's ``task``, whitespace folded (the YAML callback wraps long lines)."""
    text = run.output.split(f"TASK [{ROLE} : {task}]", 1)[1].split("\nTASK [", 1)[0].split("\nPLAY ", 1)[0]
    return " ".join(text.split()).lstrip("* ")


def ran(run: PlaybookRun, task: str) -> bool:
    return f"TASK [{ROLE} : {task}]" in run.output


def readonly_setting(site: IsolatedSite) -> bool:
    config = yaml.safe_load((site.root / "etc" / "config.yml").read_text())
    return config["storage"]["maintenance"]["readonly"]["enabled"]


def container_state(daemon) -> tuple[str, str]:
    inspected = daemon.containers.get(CONTAINER).attrs
    return inspected["Id"], inspected["State"]["StartedAt"]


def eligible(text: str) -> set[str]:
    """The digests a garbage-collect listing names as eligible for deletion."""
    return set(re.findall(r"eligible for deletion: (sha256:[0-9a-f]{64})", text))


def test_collect_deletes_a_deleted_images_blobs_and_keeps_the_others_pullable(site, registry, api, daemon):
    kept = [push(daemon, api, registry, "gc/app", "1"), push(daemon, api, registry, "gc/other", "1")]
    dropped = push(daemon, api, registry, "gc/app", "2")
    delete_manifest(api, dropped)

    run = collect(site, registry_gc_verify=[image.by_digest for image in kept])

    assert run.returncode == 0, str(run)
    dry_run = task_output(run, "Show what garbage collection would delete")
    assert re.search(rf"registry garbage-collect --dry-run in {CONTAINER}: \d+ blobs marked, \d+ blobs and 0 manifests "
                     "eligible for deletion", dry_run), str(run)
    assert {dropped.digest, *dropped.blobs} <= eligible(dry_run), str(run)
    assert not eligible(dry_run) & {digest for image in kept for digest in (image.digest, *image.blobs)}, str(run)
    assert task_output(run, "Collect garbage").startswith("changed: [dockyard-local]"), str(run)
    for image in kept:
        assert f"{image.by_digest}: 2 blobs re-hashed, digests agree" in task_output(run, "Show what was verified")

    assert [blob_status(api, dropped, blob) for blob in dropped.blobs] == [404, 404]
    for image in kept:
        assert [blob_status(api, image, blob) for blob in image.blobs] == [200, 200]
        remove_local(daemon, image)
        pulled = docker_pull(image.by_digest)
        assert pulled.returncode == 0, pulled.stderr
        assert image.by_digest in daemon.images.get(image.by_digest).attrs["RepoDigests"]

    assert readonly_setting(site) is False
    push(daemon, api, registry, "gc/after", "1")  # read-write again: the push goes through

    # Recorded for node_exporter: when, success, what went, and the bytes of the deleted blobs.
    record = site.gc_record()
    assert record["dockyard_registry_gc_last_run_success"] == 1
    assert record["dockyard_registry_gc_last_success_timestamp_seconds"] == \
        record["dockyard_registry_gc_last_run_timestamp_seconds"]
    assert abs(record["dockyard_registry_gc_last_run_timestamp_seconds"] - time.time()) < 600
    listed = re.findall(r"blob eligible for deletion: (sha256:[0-9a-f]{64})", dry_run)
    assert record["dockyard_registry_gc_deleted_blobs"] == len(listed) >= 3
    assert record["dockyard_registry_gc_deleted_manifests"] == 0
    assert record["dockyard_registry_gc_freed_bytes"] > 0


def test_untagged_images_are_deleted_only_when_asked(site, registry, api, daemon):
    overwritten = push(daemon, api, registry, "gc/moving", "1")
    current = push(daemon, api, registry, "gc/moving", "1")  # the tag moves; the first image has none left

    kept_by_default = collect(site, registry_gc_verify=[overwritten.by_digest, current.by_digest])
    assert kept_by_default.returncode == 0, str(kept_by_default)
    assert f"manifest eligible for deletion: {overwritten.digest}" not in kept_by_default.output
    assert manifest_status(api, overwritten) == 200
    assert [blob_status(api, overwritten, blob) for blob in overwritten.blobs] == [200, 200]
    kept_by_default_record = site.gc_record()

    # Asked to keep an image that --delete-untagged would delete, the run stops before deleting anything.
    refused = collect(site, registry_gc_delete_untagged=True,
                      registry_gc_verify=[overwritten.by_digest, current.by_digest])
    assert refused.returncode != 0, str(refused)
    message = " ".join(refused.output.split())
    assert ("The collection would delete images that registry_gc_verify says must survive: "
            f"{overwritten.by_digest}. gc/moving@{overwritten.digest} would lose manifest {overwritten.digest} and "
            "3 blobs. Nothing was deleted.") in message, str(refused)
    assert not ran(refused, "Collect garbage"), str(refused)
    assert manifest_status(api, overwritten) == 200
    assert readonly_setting(site) is False  # the always: section ran
    # Recorded as a failure; the last success stays the run before.
    succeeded, failed = kept_by_default_record, site.gc_record()
    assert failed["dockyard_registry_gc_last_run_success"] == 0
    assert failed["dockyard_registry_gc_last_run_timestamp_seconds"] >= \
        succeeded["dockyard_registry_gc_last_run_timestamp_seconds"]
    assert failed["dockyard_registry_gc_last_success_timestamp_seconds"] == \
        succeeded["dockyard_registry_gc_last_success_timestamp_seconds"]
    assert (failed["dockyard_registry_gc_deleted_blobs"], failed["dockyard_registry_gc_freed_bytes"]) == (0, 0)

    deleted = collect(site, registry_gc_delete_untagged=True, registry_gc_verify=[current.by_digest])
    assert deleted.returncode == 0, str(deleted)
    dry_run = task_output(deleted, "Show what garbage collection would delete")
    assert f"registry garbage-collect --dry-run --delete-untagged in {CONTAINER}: " in dry_run, str(deleted)
    assert f"manifest eligible for deletion: {overwritten.digest}" in dry_run, str(deleted)
    assert manifest_status(api, overwritten) == 404
    assert [blob_status(api, overwritten, blob) for blob in overwritten.blobs] == [404, 404]
    assert manifest_status(api, current) == 200
    assert [blob_status(api, current, blob) for blob in current.blobs] == [200, 200]


def test_a_registry_kept_read_only_is_restarted_so_it_forgets_deleted_blobs(site, registry, api, daemon):
    dropped = push(daemon, api, registry, "gc/frozen", "1")
    delete_manifest(api, dropped)
    try:
        frozen = site.run("playbooks/server.yml", extra_vars={"registry_server_readonly": True})
        assert frozen.returncode == 0, str(frozen)
        # Answered once, the blobs are in the running registry's cache; garbage-collect does not touch it.
        assert [blob_status(api, dropped, blob) for blob in dropped.blobs] == [200, 200]

        run = collect(site, registry_server_readonly=True)

        assert run.returncode == 0, str(run)
        assert task_output(run, "Restart the registry container").startswith("changed: [dockyard-local]"), str(run)
        assert [blob_status(api, dropped, blob) for blob in dropped.blobs] == [404, 404]
        assert readonly_setting(site) is True
        with pytest.raises(AssertionError, match="HTTP 405"):  # still read-only: the push is refused
            push(daemon, api, registry, "gc/frozen", "2")
    finally:
        restored = site.run("playbooks/server.yml")
        assert restored.returncode == 0, str(restored)
    assert readonly_setting(site) is False


@pytest.mark.parametrize(("options", "variables"), [((), {"registry_gc_dry_run_only": True}), (("--check",), {})],
                         ids=["registry_gc_dry_run_only", "check mode"])
def test_a_dry_run_alone_lists_the_garbage_and_changes_nothing(site, registry, api, daemon, options, variables):
    dropped = push(daemon, api, registry, "gc/preview", uuid.uuid4().hex[:8])
    delete_manifest(api, dropped)
    before = container_state(daemon)

    run = site.run("playbooks/gc.yml", *options, extra_vars=variables)

    assert run.returncode == 0, str(run)
    assert {dropped.digest, *dropped.blobs} <= eligible(task_output(run, "Show what garbage collection would delete"))
    assert "changed: [dockyard-local]" not in task_output(run, "Collect garbage"), str(run)
    if not options:
        assert run.changed == 0, str(run)
    assert container_state(daemon) == before
    assert readonly_setting(site) is False
    assert [blob_status(api, dropped, blob) for blob in dropped.blobs] == [200, 200]


BAD_VERIFY = {
    "a tag, not a digest": "{address}/gc/app:1",
    "no registry address": "gc/app@sha256:" + "0" * 64,
    "a short digest": "{address}/gc/app@sha256:1234",
    "not a reference": "{address}/GC/app@sha256:" + "0" * 64,
}


@pytest.mark.parametrize("entry", BAD_VERIFY.values(), ids=BAD_VERIFY.keys())
def test_a_bad_verify_entry_fails_before_anything_changes(site, registry, daemon, entry):
    entry = entry.format(address=registry.address)
    before = container_state(daemon)
    run = collect(site, registry_gc_verify=[f"{registry.address}/gc/app@sha256:{'0' * 64}", entry])
    assert run.returncode != 0, str(run)
    message = " ".join(run.output.split())
    assert ("registry_gc_verify must list image references by digest, with the address of their registry: "
            f"<host:port>/<repository>@sha256:<64 hex digits>. Not one: \"{entry}\".") in message, str(run)
    assert run.changed == 0, str(run)
    assert not ran(run, "Make the registry read-only"), str(run)
    assert container_state(daemon) == before


def test_a_verify_value_that_is_not_a_list_fails_before_anything_changes(site, registry, daemon):
    before = container_state(daemon)
    run = collect(site, registry_gc_verify=f"{registry.address}/gc/app@sha256:{'0' * 64}")
    assert run.returncode != 0, str(run)
    assert "registry_gc_verify must be a list of image references by digest" in " ".join(run.output.split()), str(run)
    assert run.changed == 0, str(run)
    assert container_state(daemon) == before


# Multi-platform images: an OCI index of two platforms


def tar_layer(content: bytes) -> bytes:
    """An uncompressed layer holding one file, as a daemon can extract it."""
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        info = tarfile.TarInfo("platform.txt")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    return archive.getvalue()


@dataclasses.dataclass(frozen=True)
class MultiPlatform:
    """A tagged two-platform index: its own digest, and each platform's manifest and blobs (config, layer)."""

    registry: Registry
    repository: str
    digest: str
    platforms: dict[str, Pushed]

    @property
    def by_digest(self) -> str:
        return f"{self.registry.address}/{self.repository}@{self.digest}"


def push_index(registry: Registry, repository: str, tag: str) -> MultiPlatform:
    client = RegistryAPI(registry.url, str(registry.ca_path), auth=registry.auth)
    try:
        marker = uuid.uuid4().hex
        pushed = client.push_index(repository, tag, {
            ("linux", "amd64"): [tar_layer(f"amd64 {marker}".encode())],
            ("linux", "arm64"): [tar_layer(f"arm64 {marker}".encode())],
        })
    finally:
        client.close()
    platforms = {f"{os}/{arch}": Pushed(registry, repository, child["digest"],
                                        (child["config"]["digest"], child["layers"][0]["digest"]))
                 for (os, arch), child in pushed["children"].items()}
    return MultiPlatform(registry, repository, pushed["digest"], platforms)


def platforms_intact(api, image: MultiPlatform) -> dict[str, list[int]]:
    """Per platform, the status of its manifest and of its blobs."""
    return {platform: [manifest_status(api, child)] + [blob_status(api, child, blob) for blob in child.blobs]
            for platform, child in image.platforms.items()}


INTACT = {"linux/amd64": [200, 200, 200], "linux/arm64": [200, 200, 200]}


def test_delete_untagged_is_refused_before_anything_changes_while_an_index_is_stored(site, registry, api, daemon):
    multi = push_index(registry, "gc/multi", "1")
    overwritten = push(daemon, api, registry, "gc/retagged", "1")
    push(daemon, api, registry, "gc/retagged", "1")
    before = container_state(daemon)

    refused = collect(site, registry_gc_delete_untagged=True)

    assert refused.returncode != 0, str(refused)
    message = " ".join(refused.output.split())
    assert (f"registry_gc_delete_untagged is true, but {CONTAINER} runs Distribution 2.8.2+ds1, whose "
            "--delete-untagged deletes the untagged child manifests of image indexes: a multi-platform image keeps "
            "its tag and loses its platforms (distribution#3178).") in message, str(refused)
    assert "gc/multi:1" in message.split("image index(es): ", 1)[1], str(refused)
    assert "Nothing was changed." in message
    assert not ran(refused, "Make the registry read-only"), str(refused)
    assert refused.changed == 0, str(refused)
    assert container_state(daemon) == before
    assert platforms_intact(api, multi) == INTACT
    assert manifest_status(api, overwritten) == 200


def test_a_dry_run_names_the_platforms_delete_untagged_would_take_from_a_tag(site, registry, api, daemon):
    multi = push_index(registry, "gc/multi", "2")
    amd64, arm64 = multi.platforms["linux/amd64"], multi.platforms["linux/arm64"]

    run = collect(site, registry_gc_delete_untagged=True, registry_gc_dry_run_only=True)

    assert run.returncode != 0, str(run)
    message = " ".join(run.output.split())
    assert "The collection would break images that a tag points to: " in message, str(run)
    assert (f"gc/multi:2 would lose manifests {amd64.digest} (linux/amd64), {arm64.digest} (linux/arm64) and 4 blobs"
            in message), str(run)
    assert "With --delete-untagged, Distribution 2 deletes the untagged child manifests of a tagged image index " \
           "(distribution#3178). Nothing was deleted." in message
    assert platforms_intact(api, multi) == INTACT


def test_a_multi_platform_image_keeps_every_platform_through_a_collection(site, registry, api, daemon):
    multi = push_index(registry, "gc/multi", "3")
    dropped = push(daemon, api, registry, "gc/multi-dropped", "1")
    delete_manifest(api, dropped)

    run = collect(site, registry_gc_verify=[multi.by_digest])

    assert run.returncode == 0, str(run)
    assert [blob_status(api, dropped, blob) for blob in dropped.blobs] == [404, 404]
    assert platforms_intact(api, multi) == INTACT
    assert f"{multi.by_digest}: 4 blobs re-hashed, digests agree" in task_output(run, "Show what was verified")
    pulled = docker_pull(f"{registry.address}/gc/multi:3")  # this host's platform, from the index
    assert pulled.returncode == 0, pulled.stderr


def test_an_index_of_registry_gc_verify_keeps_its_platforms_even_when_breaking_them_is_allowed(site, registry, api):
    multi = push_index(registry, "gc/multi-kept", "1")
    arm64 = multi.platforms["linux/arm64"]

    refused = collect(site, registry_gc_delete_untagged=True, registry_gc_break_multi_platform_images=True,
                      registry_gc_verify=[multi.by_digest])

    assert refused.returncode != 0, str(refused)
    message = " ".join(refused.output.split())
    assert f"registry_gc_verify says must survive: {multi.by_digest}. gc/multi-kept@{multi.digest} would lose " \
           "manifests" in message, str(refused)
    assert f"{arm64.digest} (linux/arm64)" in message
    assert not ran(refused, "Collect garbage"), str(refused)
    assert platforms_intact(api, multi) == INTACT
    assert readonly_setting(site) is False


def test_breaking_multi_platform_images_takes_an_explicit_variable_and_is_shown(site, registry, api, daemon):
    """Last in this file: it deletes the platforms of every multi-platform image the tests before it pushed."""
    multi = push_index(registry, "gc/multi-broken", "1")
    overwritten = push(daemon, api, registry, "gc/retagged-again", "1")
    current = push(daemon, api, registry, "gc/retagged-again", "1")

    run = collect(site, registry_gc_delete_untagged=True, registry_gc_break_multi_platform_images=True,
                  registry_gc_verify=[current.by_digest])

    assert run.returncode == 0, str(run)
    shown = task_output(run, "Show the multi-platform images the collection breaks, as "
                             "registry_gc_break_multi_platform_images allows")
    assert "gc/multi-broken:1 would lose manifests" in shown, str(run)
    assert manifest_status(api, overwritten) == 404
    assert manifest_status(api, current) == 200
    index = call(api, registry, "HEAD", f"gc/multi-broken/manifests/{multi.digest}", headers={"Accept": MANIFEST_TYPES})
    assert index.status_code == 200  # the tag stays ...
    assert [manifest_status(api, child) for child in multi.platforms.values()] == [404, 404]  # ... its platforms go


def test_a_kept_images_cosign_signature_survives_a_collection(site, registry, api, daemon):
    """A signature is a tag of the image's repository (``sha256-<hex>.sig``): what a collection keeps, with its blobs."""
    image = push(daemon, api, registry, "gc/signed", "1")
    dropped = push(daemon, api, registry, "gc/signed", "2")
    delete_manifest(api, dropped)
    keys = Path(__file__).resolve().parents[1] / "cosign-keys"
    sign = {"name": f"{registry.address}/gc/signed:1", "state": "signed", **push_credentials(),
            "sign": {"key_path": str(keys / "pipeline.key"), "password": "pw"}}
    signed = run_module("dockyard.registry.registry_image", sign)
    assert signed.get("changed") is True, signed
    signature = call(api, registry, "GET", f"gc/signed/manifests/sha256-{image.digest[7:]}.sig",
                     headers={"Accept": MANIFEST_TYPES})
    assert signature.status_code == 200, signature.text
    needed = {signature.headers["Docker-Content-Digest"], signature.json()["config"]["digest"],
              *(layer["digest"] for layer in signature.json()["layers"])}

    run = collect(site, registry_gc_verify=[image.by_digest])

    assert run.returncode == 0, str(run)
    dry_run = task_output(run, "Show what garbage collection would delete")
    assert set(dropped.blobs) <= eligible(dry_run), str(run)  # the collection did delete something
    assert not eligible(dry_run) & needed, str(run)
    verified = run_module("dockyard.registry.registry_image", {
        "name": f"{registry.address}/gc/signed:1", "state": "verified", "verify": "signature", "pull": False,
        "public_keys": [str(keys / "pipeline.pub")], **push_credentials()})
    assert not verified.get("failed"), verified.get("msg")
    assert verified["digest"] == image.digest


def test_retention_deletes_through_the_proxy_with_the_push_account_and_the_collection_frees_the_blobs(
        site, registry, api, daemon):
    """playbooks/retention.yml on the deployed site: the tag no rule keeps goes by digest through the authenticating
    proxy, with the inventory's push account, and the collection after it frees its blobs; the kept tag pulls."""
    kept = push(daemon, api, registry, "gc/retained", "stable")
    dropped = push(daemon, api, registry, "gc/retained", "build-7")
    rules = [{"repository": "gc/retained", "keep_newest": 0, "keep_tags": ["stable"]}]

    listed = site.run("playbooks/retention.yml", "--check", extra_vars={"registry_retention_rules": rules})
    assert listed.returncode == 0 and f"gc/retained@{dropped.digest}" in listed.output, str(listed)
    assert manifest_status(api, dropped) == 200

    run = site.run("playbooks/retention.yml", extra_vars={"registry_retention_rules": rules,
                                                          "registry_gc_verify": [kept.by_digest]})

    assert run.returncode == 0, str(run)
    assert [manifest_status(api, image) for image in (kept, dropped)] == [200, 404]
    assert [blob_status(api, dropped, blob) for blob in dropped.blobs] == [404, 404]
    assert f"{kept.by_digest}: 2 blobs re-hashed, digests agree" in task_output(run, "Show what was verified")
    again = site.run("playbooks/retention.yml", extra_vars={"registry_retention_rules": rules,
                                                            "registry_gc_dry_run_only": True})
    assert again.returncode == 0 and ": 0 manifest(s) kept by no rule" in again.output, str(again)
