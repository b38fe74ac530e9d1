"""What a garbage collection would take from tagged and kept images, read from a storage laid out as Distribution's.

The storage is written here the way the filesystem driver writes it (links under ``_manifests``, bytes under
``blobs``); the listings are garbage-collect's output as Distribution 2.8.2 prints it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from ansible_collections.dockyard.registry.plugins.module_utils._gc import (
    Storage,
    StorageError,
    endangered,
    parse_listing,
)
from ansible_collections.dockyard.registry.plugins.module_utils._registry.media import OCI_INDEX, OCI_MANIFEST


def digest(content: bytes) -> str:
    return f"sha256:{hashlib.sha256(content).hexdigest()}"


class Layout:
    """A registry's storage under ``root``, written as Distribution's filesystem driver writes it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.v2 = root / "docker" / "registry" / "v2"

    def blob(self, content: bytes) -> str:
        found = digest(content)
        path = self.v2 / "blobs" / "sha256" / found[7:9] / found[7:] / "data"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        return found

    def _link(self, path: Path, target: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(target)

    def manifest(self, repository: str, manifest: dict, tag: str | None = None) -> str:
        found = self.blob(json.dumps(manifest).encode())
        manifests = self.v2 / "repositories" / repository / "_manifests"
        self._link(manifests / "revisions" / "sha256" / found[7:] / "link", found)
        if tag:
            self._link(manifests / "tags" / tag / "current" / "link", found)
        return found

    def image(self, repository: str, marker: str, tag: str | None = None) -> tuple[str, list[str]]:
        config, layer = self.blob(f"config {marker}".encode()), self.blob(f"layer {marker}".encode())
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 1},
                    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": 1}]}
        return self.manifest(repository, manifest, tag), [config, layer]

    def index(self, repository: str, tag: str | None, children: dict[str, str]) -> str:
        entries = [{"mediaType": OCI_MANIFEST, "digest": child, "size": 1,
                    "platform": dict(zip(("os", "architecture"), platform.split("/")))}
                   for platform, child in children.items()]
        return self.manifest(repository, {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}, tag)


@pytest.fixture
def layout(tmp_path) -> Layout:
    return Layout(tmp_path)


@pytest.fixture
def multi(layout):
    """A tagged two-platform index in team/multi, and its children's manifests and blobs."""
    amd64, amd64_blobs = layout.image("team/multi", "amd64")
    arm64, arm64_blobs = layout.image("team/multi", "arm64")
    index = layout.index("team/multi", "1", {"linux/amd64": amd64, "linux/arm64": arm64})
    return {"index": index, "amd64": amd64, "arm64": arm64, "blobs": amd64_blobs + arm64_blobs}


def delete_untagged_listing(*sections: tuple[str, list[str]], blobs: list[str] = ()) -> str:
    """garbage-collect --dry-run --delete-untagged output, as Distribution 2.8.2 prints it."""
    lines = []
    for repository, manifests in sections:
        lines.append(repository)
        lines += [f"manifest eligible for deletion: {manifest}" for manifest in manifests]
        lines.append(f"{repository}: marking manifest sha256:{'f' * 64} ")
    lines.append(f"1 blobs marked, {len(blobs)} blobs and 2 manifests eligible for deletion")
    lines += [f"blob eligible for deletion: {blob}" for blob in blobs]
    return "\n".join(lines) + "\n"


def test_the_storage_lists_repositories_nested_or_not_tags_and_indexes(layout, multi):
    plain, _blobs = layout.image("team", "plain", tag="latest")
    layout.image("team/sub/deeper", "deep", tag="2")
    untagged = layout.index("team/multi", None, {"linux/amd64": multi["amd64"]})
    storage = Storage(layout.root)

    assert storage.repositories() == ["team", "team/multi", "team/sub/deeper"]
    assert storage.tags("team") == {"latest": plain}
    indexes = sorted(storage.indexes(), key=lambda index: index["tags"], reverse=True)
    assert indexes == [
        {"repository": "team/multi", "digest": multi["index"], "tags": ["1"], "references": ["team/multi:1"],
         "children": [multi["amd64"], multi["arm64"]]},
        {"repository": "team/multi", "digest": untagged, "tags": [], "references": [f"team/multi@{untagged}"],
         "children": [multi["amd64"]]},
    ]


def test_an_empty_storage_holds_nothing_and_a_missing_one_is_named(layout, tmp_path):
    assert Storage(layout.root).repositories() == []
    assert Storage(layout.root).indexes() == []
    with pytest.raises(StorageError, match=r"is not a directory: it must be the registry's storage on this host"):
        Storage(tmp_path / "elsewhere")


def test_a_walk_from_a_tagged_index_reaches_every_platform_and_its_blobs(layout, multi):
    reach = Storage(layout.root).walk("team/multi", multi["index"])
    assert reach.manifests == {multi["index"]: multi["index"], multi["amd64"]: f"{multi['amd64']} (linux/amd64)",
                               multi["arm64"]: f"{multi['arm64']} (linux/arm64)"}
    assert reach.blobs == {multi["index"], multi["amd64"], multi["arm64"], *multi["blobs"]}


def test_the_children_of_a_tagged_index_in_a_delete_untagged_listing_are_named(layout, multi):
    moved, moved_blobs = layout.image("team/app", "moved")
    listing = parse_listing(delete_untagged_listing(("team/multi", [multi["amd64"], multi["arm64"]]),
                                                    ("team/app", [moved]), blobs=[*multi["blobs"], *moved_blobs]))

    found = endangered(Storage(layout.root), listing, [])

    assert found == [{
        "reference": "team/multi:1", "digest": multi["index"], "kept": False, "index": True,
        "manifests": [f"{multi['amd64']} (linux/amd64)", f"{multi['arm64']} (linux/arm64)"],
        "blobs": sorted(multi["blobs"]),
        "summary": f"team/multi:1 would lose manifests {multi['amd64']} (linux/amd64), {multi['arm64']} "
                   "(linux/arm64) and 4 blobs",
    }]


def test_a_kept_image_is_protected_even_untagged_and_outside_the_listed_repository(layout):
    kept, kept_blobs = layout.image("team/app", "kept")
    listing = parse_listing(delete_untagged_listing(("team/app", [kept]), blobs=[kept, *kept_blobs]))

    found = endangered(Storage(layout.root), listing, [("team/app", kept), ("team/gone", "sha256:" + "e" * 64)])

    assert [(entry["reference"], entry["kept"], entry["index"], len(entry["blobs"])) for entry in found] == [
        (f"team/app@{kept}", True, False, 3)]
    assert found[0]["summary"] == f"team/app@{kept} would lose manifest {kept} and 3 blobs"


def test_an_untagged_manifest_of_another_repository_endangers_no_tag(layout):
    shared, _blobs = layout.image("team/a", "shared", tag="1")
    layout.manifest("team/b", json.loads((layout.v2 / "blobs" / "sha256" / shared[7:9] / shared[7:] / "data")
                                         .read_text()))
    listing = parse_listing(delete_untagged_listing(("team/b", [shared])))
    assert endangered(Storage(layout.root), listing, []) == []


def test_a_listing_without_eligible_entries_endangers_nothing(layout, multi):
    listing = parse_listing("team/multi\nteam/multi: marking manifest " + multi["index"] + " \n"
                            "3 blobs marked, 0 blobs and 0 manifests eligible for deletion\n")
    assert (listing.manifests, listing.blobs) == ({}, set())
    assert endangered(Storage(layout.root), listing, []) == []


def test_a_manifest_larger_than_distribution_accepts_is_reported_as_damage(layout):
    huge = layout.blob(b"{" + b" " * (4 << 20) + b"}")
    manifests = layout.v2 / "repositories" / "team" / "_manifests"
    (manifests / "revisions" / "sha256" / huge[7:]).mkdir(parents=True)
    (manifests / "revisions" / "sha256" / huge[7:] / "link").write_text(huge)
    with pytest.raises(StorageError, match=r"is more than 4194304 bytes, which Distribution never stores as a manifest"):
        Storage(layout.root).indexes()


def test_the_bytes_of_the_listed_blobs_are_what_the_collection_frees(layout):
    small, large = layout.blob(b"x" * 10), layout.blob(b"y" * 1000)
    layout.blob(b"kept" * 100)
    listing = parse_listing(delete_untagged_listing(blobs=[small, large, digest(b"already gone")]))
    assert Storage(layout.root).blob_bytes(sorted(listing.blobs)) == 1010
