"""An air-gapped registry host: the registry runs the image of the archive, loaded from the copy on the host,
and nothing else provided a registry image (prepare.yml checked that the host started without any image)."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

from conftest import run_ok

REGISTRY_CONTAINER = "dockyard-registry"
ARCHIVE_ON_HOST = "/var/cache/dockyard/registry-image.tar"


def archive_path(fleet) -> Path:
    return Path(fleet.variables(fleet.registry)["registry_image_archive"]).resolve()


def archive_image(fleet) -> tuple[str, list[str]]:
    """The image ID and the names that the archive's manifest.json gives."""
    with tarfile.open(archive_path(fleet)) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))
    assert len(manifest) == 1, f"{archive_path(fleet)} holds {len(manifest)} images"
    return "sha256:" + manifest[0]["Config"].rsplit("/", 1)[-1].removesuffix(".json"), manifest[0]["RepoTags"]


def test_registry_runs_the_image_loaded_from_the_archive(fleet):
    host = fleet.host(fleet.registry)
    image_id, names = archive_image(fleet)
    image = fleet.variables(fleet.registry).get("registry_image", "registry:2")
    assert image in names, f"the archive names {names}; the scenario runs {image}"
    loaded = run_ok(host, "docker image inspect --format %s %s", "{{.Id}}", image).strip()
    assert loaded == image_id, f"{fleet.registry}: {image} is {loaded}; the archive holds {image_id}"
    container = json.loads(run_ok(host, "docker container inspect %s", REGISTRY_CONTAINER))[0]
    assert (container["Config"]["Image"], container["Image"]) == (image, image_id), (
        f"{fleet.registry}: {REGISTRY_CONTAINER} runs {container['Config']['Image']} ({container['Image']}); "
        f"expected {image} ({image_id}) from the archive")


def test_archive_is_kept_on_the_registry_host_as_copied(fleet):
    copy = fleet.host(fleet.registry).file(ARCHIVE_ON_HOST)
    assert copy.is_file, f"{fleet.registry}: {ARCHIVE_ON_HOST} is missing"
    assert (copy.user, copy.group, copy.mode) == ("root", "root", 0o600), (
        f"{fleet.registry}: {ARCHIVE_ON_HOST} is {copy.user}:{copy.group} {oct(copy.mode)}; expected root:root 0600")
    expected = hashlib.sha256(archive_path(fleet).read_bytes()).hexdigest()
    assert copy.sha256sum == expected, f"{fleet.registry}: {ARCHIVE_ON_HOST} differs from {archive_path(fleet)}"


def test_no_registry_image_was_built_or_pulled_on_the_registry_host(fleet):
    host = fleet.host(fleet.registry)
    image_id, _names = archive_image(fleet)
    images = run_ok(host, "docker image ls --no-trunc --format %s", "{{.Repository}} {{.Tag}} {{.ID}}").splitlines()
    registry_images = [image for image in images if image.split()[0] in ("registry", "dockyard/registry")]
    assert registry_images == [f"registry 2 {image_id}"], (
        f"{fleet.registry}: registry images {registry_images}; expected only registry:2 from the archive")
