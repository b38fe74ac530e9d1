"""``playbooks/gc.yml`` against a registry of the module's own (``IsolatedSite``), checked from outside.

The shared registry on port 5000 is never touched: collecting garbage restarts the registry and deletes blobs.
Images are built here (``FROM scratch`` plus a file of unique content, so each has a layer of its own), pushed
with the Docker SDK and inspected through the registry API with ``requests``, trusting only the certs.d CA,
logged in with the local inventory's accounts like everything else.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import shutil
import subprocess
import uuid

import docker
import pytest
import requests
import yaml

from support import IsolatedSite, PlaybookRun, Registry, scratch_context

PORT = 5463
CONTAINER = f"dockyard-gc-{PORT}"
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


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


@pytest.fixture(scope="module")
def site(request, tmp_path_factory, machine_ip, daemon) -> IsolatedSite:
    """``playbooks/site.yml`` deployed on port ``PORT`` with its own container, directories and CA."""
    isolated = IsolatedSite(tmp_path_factory.mktemp("gc"), PORT, CONTAINER)

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
    progress = list(daemon.images.push(name, tag=tag, stream=True, decode=True))
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
                headers={"Accept": MANIFEST_V2}).status_code


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
    """What the run printed for ``task``, whitespace folded (the YAML callback wraps long lines)."""
    text = run.output.split(f"TASK [{task}]", 1)[1].split("\nTASK [", 1)[0].split("\nPLAY ", 1)[0]
    return " ".join(text.split()).lstrip("* ")


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


def test_untagged_images_are_deleted_only_when_asked(site, registry, api, daemon):
    overwritten = push(daemon, api, registry, "gc/moving", "1")
    current = push(daemon, api, registry, "gc/moving", "1")  # the tag moves; the first image has none left

    kept_by_default = collect(site, registry_gc_verify=[overwritten.by_digest, current.by_digest])
    assert kept_by_default.returncode == 0, str(kept_by_default)
    assert f"manifest eligible for deletion: {overwritten.digest}" not in kept_by_default.output
    assert manifest_status(api, overwritten) == 200
    assert [blob_status(api, overwritten, blob) for blob in overwritten.blobs] == [200, 200]

    # Asked to keep an image that --delete-untagged would delete, the run stops before deleting anything.
    refused = collect(site, registry_gc_delete_untagged=True,
                      registry_gc_verify=[overwritten.by_digest, current.by_digest])
    assert refused.returncode != 0, str(refused)
    message = " ".join(refused.output.split())
    assert ("The collection would delete images that registry_gc_verify says must survive: "
            f"{overwritten.by_digest} (no tag points to them") in message, str(refused)
    assert current.by_digest not in message.split("must survive: ", 1)[1].split(" (", 1)[0]
    assert "TASK [Collect garbage]" not in refused.output, str(refused)
    assert manifest_status(api, overwritten) == 200
    assert readonly_setting(site) is False  # the always: section ran

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
    assert "PLAY [Collect the registry's garbage]" not in run.output, str(run)
    assert container_state(daemon) == before


def test_a_verify_value_that_is_not_a_list_fails_before_anything_changes(site, registry, daemon):
    before = container_state(daemon)
    run = collect(site, registry_gc_verify=f"{registry.address}/gc/app@sha256:{'0' * 64}")
    assert run.returncode != 0, str(run)
    assert "registry_gc_verify must be a list of image references by digest" in " ".join(run.output.split()), str(run)
    assert run.changed == 0, str(run)
    assert container_state(daemon) == before
