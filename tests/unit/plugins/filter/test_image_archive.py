"""The archived_image_id and archived_image_tags filters, on archives in the layouts of ``docker save``."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.dockyard.registry.plugins.filter.image_archive import FilterModule

FILTERS = FilterModule().filters()
CONFIG = "4d3f0ad9c1b6a3e9a2e0b1d8c7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8"
OTHER = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"


def archive(path, manifest) -> str:
    """A tar with ``manifest`` as its manifest.json, a layer-like member before it, as ``docker save`` writes one."""
    with tarfile.open(path, "w") as tar:
        for name, data in (("layer.tar", b"\0" * 2048), ("manifest.json", json.dumps(manifest).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return str(path)


@pytest.mark.parametrize("config", [f"{CONFIG}.json", f"blobs/sha256/{CONFIG}"], ids=["docker-24", "docker-25"])
@pytest.mark.parametrize("image", ["registry:2", "docker.io/library/registry:2", "index.docker.io/library/registry:2"])
def test_the_id_of_the_image_held_under_its_name_in_either_layout(tmp_path, config, image):
    path = archive(tmp_path / "registry.tar", [{"Config": f"{OTHER}.json", "RepoTags": ["busybox:latest"]},
                                               {"Config": config, "RepoTags": ["registry:2"]}])
    assert FILTERS["archived_image_id"](path, image) == f"sha256:{CONFIG}"
    assert FILTERS["archived_image_tags"](path) == ["busybox:latest", "registry:2"]


def test_a_name_without_a_tag_is_its_latest_tag(tmp_path):
    path = archive(tmp_path / "busybox.tar", [{"Config": f"{OTHER}.json", "RepoTags": ["busybox:latest"]}])
    assert FILTERS["archived_image_id"](path, "busybox") == f"sha256:{OTHER}"


@pytest.mark.parametrize("image", ["registry:3", "example.com/registry:2", "registry@sha256:" + CONFIG])
def test_an_archive_without_the_image_gives_nothing(tmp_path, image):
    path = archive(tmp_path / "registry.tar", [{"Config": f"{CONFIG}.json", "RepoTags": ["registry:2"]}])
    assert FILTERS["archived_image_id"](path, image) == ""


def test_an_image_saved_by_id_has_no_name(tmp_path):
    path = archive(tmp_path / "anonymous.tar", [{"Config": f"{CONFIG}.json", "RepoTags": None}])
    assert FILTERS["archived_image_id"](path, "registry:2") == ""
    assert FILTERS["archived_image_tags"](path) == []


def test_the_path_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    archive(tmp_path / "registry.tar", [{"Config": f"{CONFIG}.json", "RepoTags": ["registry:2"]}])
    assert FILTERS["archived_image_id"]("~/registry.tar", "registry:2") == f"sha256:{CONFIG}"


def test_a_missing_file_fails_naming_it(tmp_path):
    with pytest.raises(AnsibleFilterError, match=rf"dockyard.registry.archived_image_id: {tmp_path}/none.tar is not a file"):
        FILTERS["archived_image_id"](str(tmp_path / "none.tar"), "registry:2")


def test_a_file_that_is_no_docker_save_archive_fails_naming_it(tmp_path):
    text = tmp_path / "registry.tar"
    text.write_text("not a tar\n")
    with pytest.raises(AnsibleFilterError, match=rf"{text} is not an archive of `docker save`"):
        FILTERS["archived_image_tags"](str(text))
    with tarfile.open(tmp_path / "empty.tar", "w"):
        pass
    with pytest.raises(AnsibleFilterError, match="is not an archive of `docker save`: .*manifest.json"):
        FILTERS["archived_image_id"](str(tmp_path / "empty.tar"), "registry:2")
