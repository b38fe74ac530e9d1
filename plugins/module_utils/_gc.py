# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: what a garbage collection would take from the images a registry keeps.

:class:`Storage` reads Distribution's filesystem storage (``docker/registry/v2`` under the driver's root
directory): every repository's tags and manifests, and the blobs they name. From each tag, and from each
``repository@digest`` the caller keeps, :meth:`Storage.walk` goes through image indexes to the image manifests
and their configs and layers, all that a pull needs. :func:`endangered` sets that against what ``registry
garbage-collect`` lists as eligible for deletion (:func:`parse_listing`): whatever a tag or a kept digest still
needs is named. Distribution 2.8 with ``--delete-untagged`` lists the untagged child manifests of a tagged image
index (distribution#3178), so a collection sees it here before deleting anything.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

from ansible_collections.dockyard.registry.plugins.module_utils._digest import is_digest
from ansible_collections.dockyard.registry.plugins.module_utils._registry.blobs import (
    is_index,
    load_manifest,
    platform_of,
)
from ansible_collections.dockyard.registry.plugins.module_utils._registry.errors import ManifestFormatError
from ansible_collections.dockyard.registry.plugins.module_utils._registry.media import MAX_MANIFEST_BYTES

V2 = Path("docker", "registry", "v2")
# Directories of a repository that hold its content, not repositories nested in it.
_REPOSITORY_PARTS = {"_manifests", "_layers", "_uploads"}
_DIGEST = r"(sha256:[0-9a-f]{64})"
_MARKING = re.compile(rf"^(\S+): marking (?:manifest|blob) {_DIGEST}")
_MANIFEST_ELIGIBLE = re.compile(rf"^manifest eligible for deletion: {_DIGEST}")
_BLOB_ELIGIBLE = re.compile(rf"^blob eligible for deletion: {_DIGEST}")
# The line garbage-collect prints before a repository's entries: its name alone.
_REPOSITORY_LINE = re.compile(r"^[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*$")
# The last line of a garbage-collect pass (the gc entry point reads it with the same pattern).
SUMMARY = re.compile(r"(\d+) blobs marked, (\d+) blobs and (\d+) manifests eligible for deletion")


class StorageError(Exception):
    """The storage cannot be read, or holds what Distribution would never have written."""


@dataclasses.dataclass(frozen=True)
class StoredManifest:
    """A manifest as stored: an index names ``children`` ((digest, platform) pairs), an image its ``blobs``."""

    digest: str
    index: bool
    children: tuple[tuple[str, str], ...] = ()
    blobs: tuple[str, ...] = ()


@dataclasses.dataclass
class Reach:
    """What one tag or kept digest needs: manifests (digest to a label for messages) and blobs."""

    manifests: dict[str, str] = dataclasses.field(default_factory=dict)
    blobs: set[str] = dataclasses.field(default_factory=set)


class Storage:
    """Distribution's filesystem storage under ``root`` (the driver's ``rootdirectory`` as the host sees it)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.v2 = self.root / V2
        self._manifests: dict[str, StoredManifest | None] = {}
        if not self.root.is_dir():
            raise StorageError(f"{self.root} is not a directory: it must be the registry's storage on this host "
                               "(registry_server_data_dir)")

    def repositories(self) -> list[str]:
        """Every repository, by name (``team/app``), sorted."""
        top = self.v2 / "repositories"
        found = []
        if not top.is_dir():  # nothing pushed yet
            return found
        for directory, subdirectories, _files in os.walk(top, onerror=self._unreadable):
            if "_manifests" in subdirectories:
                found.append(Path(directory).relative_to(top).as_posix())
            subdirectories[:] = sorted(name for name in subdirectories if name not in _REPOSITORY_PARTS)
        return sorted(found)

    def tags(self, repository: str) -> dict[str, str]:
        """``{tag: digest}`` of ``repository``: the manifest each tag points to now."""
        tags = {}
        for tag in self._names(self._manifests_dir(repository) / "tags"):
            digest = self._link(self._manifests_dir(repository) / "tags" / tag / "current" / "link")
            if digest:
                tags[tag] = digest
        return tags

    def revisions(self, repository: str) -> list[str]:
        """Every manifest digest ``repository`` holds, tagged or not."""
        revisions = self._manifests_dir(repository) / "revisions" / "sha256"
        return [f"sha256:{name}" for name in self._names(revisions)
                if self._link(revisions / name / "link") == f"sha256:{name}"]

    def manifest(self, digest: str) -> StoredManifest | None:
        """The manifest stored as blob ``digest``, or None where its bytes are gone."""
        if digest not in self._manifests:
            self._manifests[digest] = self._read_manifest(digest)
        return self._manifests[digest]

    def walk(self, repository: str, digest: str) -> Reach:
        """Everything a pull of manifest ``digest`` from ``repository`` needs, through any depth of indexes."""
        reach = Reach()
        pending = [(digest, digest)]
        revisions = None
        while pending:
            current, label = pending.pop(0)
            if current in reach.manifests:
                continue
            reach.manifests[current] = label
            reach.blobs.add(current)  # a manifest's bytes are a blob too
            if revisions is None:
                revisions = set(self.revisions(repository))
            manifest = self.manifest(current) if current in revisions else None
            if manifest is None:
                continue
            reach.blobs.update(manifest.blobs)
            pending.extend((child, f"{child} ({platform})" if platform else child)
                           for child, platform in manifest.children)
        return reach

    def indexes(self) -> list[dict]:
        """Every image index stored: repository, digest, the tags on it (as references too) and its children."""
        found = []
        for repository in self.repositories():
            tags = self.tags(repository)
            for digest in self.revisions(repository):
                manifest = self.manifest(digest)
                if manifest is None or not manifest.index:
                    continue
                on_it = sorted(tag for tag, tagged in tags.items() if tagged == digest)
                found.append({
                    "repository": repository,
                    "digest": digest,
                    "tags": on_it,
                    "references": [f"{repository}:{tag}" for tag in on_it] or [f"{repository}@{digest}"],
                    "children": [child for child, _platform in manifest.children],
                })
        return found

    def blob_bytes(self, digests) -> int:
        """The bytes the blobs of ``digests`` take in the storage (those it holds): what deleting them frees."""
        total = 0
        for digest in digests:
            try:
                total += (self.v2 / "blobs" / "sha256" / digest[7:9] / digest[7:] / "data").stat().st_size
            except FileNotFoundError:
                continue
            except OSError as exc:
                self._unreadable(exc)
        return total

    def _read_manifest(self, digest: str) -> StoredManifest | None:
        path = self.v2 / "blobs" / "sha256" / digest[7:9] / digest[7:] / "data"
        try:
            with path.open("rb") as data:
                content = data.read(MAX_MANIFEST_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"cannot read manifest {digest} at {path}: {exc.strerror or exc}") from None
        if len(content) > MAX_MANIFEST_BYTES:
            raise StorageError(f"the manifest {digest} at {path} is more than {MAX_MANIFEST_BYTES} bytes, which "
                               "Distribution never stores as a manifest: the storage is damaged")
        try:
            manifest = load_manifest(content, f"manifest {digest} at {path}")
        except ManifestFormatError as exc:
            raise StorageError(f"{exc}: the storage is damaged") from None
        if is_index(manifest):
            entries = manifest.get("manifests")
            children = tuple((entry["digest"], str(platform_of(entry) or ""))
                             for entry in entries if isinstance(entry, dict) and is_digest(entry.get("digest"))
                             ) if isinstance(entries, list) else ()
            return StoredManifest(digest, True, children=children)
        named = [manifest.get("config")] + list(manifest.get("layers") or [])
        blobs = [entry.get("digest") for entry in named if isinstance(entry, dict)]
        # Schema 1 manifests, which Distribution 2 still serves, name their layers as fsLayers.
        blobs += [entry.get("blobSum") for entry in manifest.get("fsLayers") or [] if isinstance(entry, dict)]
        return StoredManifest(digest, False, blobs=tuple(sorted({blob for blob in blobs if is_digest(blob)})))

    def _manifests_dir(self, repository: str) -> Path:
        return self.v2 / "repositories" / repository / "_manifests"

    def _names(self, directory: Path) -> list[str]:
        try:
            return sorted(entry.name for entry in os.scandir(directory) if entry.is_dir())
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StorageError(f"cannot list {directory}: {exc.strerror or exc}") from None

    @staticmethod
    def _link(path: Path) -> str | None:
        """The digest a link file holds, or None where it is gone or holds something else."""
        try:
            value = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return value if is_digest(value) else None

    @staticmethod
    def _unreadable(exc: OSError) -> None:
        raise StorageError(f"cannot list {exc.filename}: {exc.strerror or exc}")


@dataclasses.dataclass
class Listing:
    """What a ``registry garbage-collect`` pass lists as eligible for deletion.

    ``manifests`` maps a repository to the manifest digests eligible there (the key None holds those listed
    before any repository was named); ``blobs`` are eligible in the whole storage.
    """

    manifests: dict[str | None, set[str]] = dataclasses.field(default_factory=dict)
    blobs: set[str] = dataclasses.field(default_factory=set)

    def manifests_of(self, repository: str) -> set[str]:
        return self.manifests.get(repository, set()) | self.manifests.get(None, set())


def parse_listing(text: str) -> Listing:
    """The eligible manifests (by repository) and blobs of garbage-collect's output (a dry run or a real pass)."""
    listing = Listing()
    repository = None
    for line in text.splitlines():
        line = line.strip()
        manifest, blob, marking = (pattern.match(line) for pattern in (_MANIFEST_ELIGIBLE, _BLOB_ELIGIBLE, _MARKING))
        if manifest:
            listing.manifests.setdefault(repository, set()).add(manifest.group(1))
        elif blob:
            listing.blobs.add(blob.group(1))
        elif marking:
            repository = marking.group(1)
        elif _REPOSITORY_LINE.match(line):
            repository = line
    return listing


def summary_counts(text: str) -> tuple[int, int, int] | None:
    """(blobs marked, blobs eligible, manifests eligible) of a garbage-collect pass; None where it printed no summary."""
    match = SUMMARY.search(text)
    return tuple(int(count) for count in match.groups()) if match else None


def endangered(storage: Storage, listing: Listing, keep: list[tuple[str, str]]) -> list[dict]:
    """What the listed deletions would take from each tag and each kept digest.

    ``keep`` holds (repository, digest) pairs. One entry per tag or kept digest that would lose something:
    ``reference`` (``repository:tag`` or ``repository@digest``), the ``digest`` it points to, ``kept`` (whether it
    came from ``keep``),
    ``index`` (whether it is an image index), the ``manifests`` (labelled with their platforms) and ``blobs`` it
    would lose, and a ``summary`` for messages.
    """
    roots: list[tuple[str, str, str, bool]] = []
    for repository in storage.repositories():
        roots.extend((repository, f"{repository}:{tag}", digest, False)
                     for tag, digest in sorted(storage.tags(repository).items()))
    roots.extend((repository, f"{repository}@{digest}", digest, True) for repository, digest in keep)
    found = []
    for repository, reference, digest, kept in roots:
        reach = storage.walk(repository, digest)
        eligible = listing.manifests_of(repository)
        manifests = [label for manifest, label in reach.manifests.items() if manifest in eligible]
        blobs = sorted(reach.blobs & listing.blobs)
        if manifests or blobs:
            stored = storage.manifest(digest)
            found.append({"reference": reference, "digest": digest, "kept": kept, "index": bool(stored and stored.index),
                          "manifests": manifests, "blobs": blobs, "summary": _summary(reference, manifests, blobs)})
    return found


def _summary(reference: str, manifests: list[str], blobs: list[str]) -> str:
    lost = []
    if manifests:
        lost.append(f"manifest{'s' if len(manifests) > 1 else ''} {', '.join(manifests)}")
    if blobs:
        lost.append(f"{len(blobs)} blob{'s' if len(blobs) > 1 else ''}")
    return f"{reference} would lose {' and '.join(lost)}"
