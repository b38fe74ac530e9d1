# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: from a manifest to every blob it references, each re-hashed.

:func:`plan_image` and :func:`select_children` are pure: they read manifests (bytes already checked
against their digests) and say which blobs to fetch. :class:`BlobVerifier` fetches them through the registry
client, several at once, each worker thread over a connection of its own, hashing every chunk as it arrives in
a buffer it reuses: memory stays constant whatever the size of a layer. A blob fails when the bytes the registry
serves do not hash to the digest its manifest names, or are not as many as the manifest says; a transfer cut
short by the network is a transfer failure, not a corrupt blob.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import http.client
import json
import socket
import threading
import time

from ansible_collections.dockyard.registry.plugins.module_utils._digest import PREFIX, DigestError, parse_digest
from ansible_collections.dockyard.registry.plugins.module_utils._registry.errors import (
    BlobFetchError,
    BlobMismatchError,
    ManifestFormatError,
    PlatformError,
    RegistryConnectionError,
    RegistryError,
    error_detail,
)
from ansible_collections.dockyard.registry.plugins.module_utils._registry.media import (
    INDEX_TYPES,
    MAX_INDEX_CHILDREN,
    MAX_NESTING,
)

# Measured with bench/verify_blobs.py on two cores, the registry on the same machine (its TLS encryption
# takes about as much CPU as the hashing): two streams were the fastest in four runs of five, 2 to 15 % over one;
# three and four only add contention. Against a registry elsewhere, a second stream also hides the latency
# between blobs; each stream's client side decrypts and hashes at well over 1 GB/s per core.
WORKERS = 2
CHUNK_SIZE = 1 << 20
RETAINED_CONFIG_SIZE = 1 << 20  # a config checked against O(platform) is kept in memory up to this size


@dataclasses.dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    def __str__(self) -> str:
        return "/".join(part for part in (self.os, self.architecture, self.variant) if part)

    def matches(self, other: Platform) -> bool:
        """Whether ``other`` (an image's platform) is this one; without a variant here, any variant is."""
        return (self.os, self.architecture) == (other.os, other.architecture) and (
            self.variant is None or self.variant == other.variant)


def parse_platform(value: str) -> Platform:
    """``os/architecture[/variant]``, as ``docker pull --platform`` takes it (``linux/arm64/v8``)."""
    parts = value.split("/") if isinstance(value, str) else []
    if len(parts) not in (2, 3) or not all(parts):
        raise PlatformError(f"platform: {value!r} is not os/architecture[/variant], for example linux/amd64 or "
                            "linux/arm64/v8")
    return Platform(*parts)


def platform_of(entry: dict) -> Platform | None:
    """The platform an index entry (or an image config) declares, or None when it declares none."""
    platform = entry.get("platform", entry)
    if not isinstance(platform, dict) or not platform.get("os") or not platform.get("architecture"):
        return None
    return Platform(str(platform["os"]), str(platform["architecture"]), platform.get("variant") or None)


@dataclasses.dataclass(frozen=True)
class Descriptor:
    """What a manifest says of content it references: type, digest, size, and where it was named."""

    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    role: str = "layer"  # "manifest", "config" or "layer"
    where: str = ""  # for messages: "layer 2 of 3 of manifest sha256:… (linux/amd64)"


def descriptor(entry, where: str, role: str, platform: Platform | None = None) -> Descriptor:
    """Check one descriptor of a manifest: a digest this collection accepts and a size that is a count of bytes."""
    if not isinstance(entry, dict):
        raise ManifestFormatError(f"{where}: a descriptor must be an object, not {type(entry).__name__}")
    try:
        digest = parse_digest(entry.get("digest"))
    except DigestError as exc:
        raise ManifestFormatError(f"{where}: {exc}") from None
    size = entry.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestFormatError(f"{where}: size {size!r} is not a number of bytes")
    return Descriptor(str(entry.get("mediaType") or ""), digest, size, platform, role, where)


def load_manifest(content: bytes, where: str) -> dict:
    try:
        manifest = json.loads(content)
    except ValueError as exc:
        raise ManifestFormatError(f"{where} is not JSON: {exc}") from None
    if not isinstance(manifest, dict):
        raise ManifestFormatError(f"{where} is not a JSON object")
    return manifest


def media_type_of(manifest: dict, header: str | None) -> str:
    """The manifest's ``mediaType`` field, else the Content-Type the registry sent (parameters dropped)."""
    return str(manifest.get("mediaType") or (header or "").split(";")[0].strip())


def is_index(manifest: dict, header: str | None = None) -> bool:
    media_type = media_type_of(manifest, header)
    return media_type in INDEX_TYPES or (not media_type and "manifests" in manifest and "layers" not in manifest)


def select_children(index: dict, digest: str, wanted: Platform | None) -> list[Descriptor]:
    """The manifests an index lists, or only those for ``wanted``; fails naming the platforms there are."""
    where = f"manifest list {digest}"
    entries = index.get("manifests")
    if not isinstance(entries, list):
        raise ManifestFormatError(f"{where} has no list of manifests")
    if len(entries) > MAX_INDEX_CHILDREN:
        raise ManifestFormatError(f"{where} lists {len(entries)} manifests, more than the {MAX_INDEX_CHILDREN} "
                                  "this collection follows")
    children = []
    for number, entry in enumerate(entries, 1):
        platform = platform_of(entry) if isinstance(entry, dict) else None
        label = f"manifest {number} of {len(entries)} of {where}" + (f" ({platform})" if platform else "")
        children.append(descriptor(entry, label, "manifest", platform))
    if wanted is None:
        return children
    selected = [child for child in children if child.platform and wanted.matches(child.platform)]
    if not selected:
        available = sorted({str(child.platform) for child in children if child.platform})
        raise PlatformError(f"platform: {where} has no manifest for {wanted}; it has "
                            f"{', '.join(available) or 'no platform information'}")
    return selected


def image_blobs(manifest: dict, digest: str, platform: Platform | None) -> list[Descriptor]:
    """The config and the layers of one image manifest, config first."""
    suffix = f" ({platform})" if platform else ""
    where = f"manifest {digest}{suffix}"
    config, layers = manifest.get("config"), manifest.get("layers")
    if config is None or not isinstance(layers, list):
        raise ManifestFormatError(f"{where} is not an image manifest: it lacks config or layers "
                                  f"(media type {manifest.get('mediaType') or 'not given'})")
    blobs = [descriptor(config, f"the config of {where}", "config", platform)]
    for number, layer in enumerate(layers, 1):
        blobs.append(descriptor(layer, f"layer {number} of {len(layers)} of {where}", "layer", platform))
    return blobs


@dataclasses.dataclass
class BlobPlan:
    """What to fetch: the image manifests walked, and each distinct blob once (where it was first named)."""

    manifests: list[Descriptor] = dataclasses.field(default_factory=list)
    blobs: dict[str, Descriptor] = dataclasses.field(default_factory=dict)

    def add_image(self, manifest: Descriptor, blobs: list[Descriptor]) -> None:
        self.manifests.append(manifest)
        for blob in blobs:
            self.blobs.setdefault(blob.digest, blob)

    @property
    def platforms(self) -> list[str]:
        return sorted({str(manifest.platform) for manifest in self.manifests if manifest.platform})

    @property
    def size(self) -> int:
        return sum(blob.size for blob in self.blobs.values())


def plan_image(content: bytes, digest: str, content_type: str | None, fetch_manifest, wanted: Platform | None,
               depth: int = 0) -> BlobPlan:
    """Walk from the manifest ``content`` (already checked against ``digest``) to every blob it references.

    ``fetch_manifest(descriptor)`` returns a child manifest's bytes (checked against the descriptor) and
    its Content-Type. An image manifest given ``wanted`` is checked against its config by the verifier.
    """
    plan = BlobPlan()
    _walk(plan, content, Descriptor(content_type or "", digest, len(content), None, "manifest", digest),
          content_type, fetch_manifest, wanted, depth)
    return plan


def _walk(plan, content, manifest_descriptor, content_type, fetch_manifest, wanted, depth) -> None:
    if depth > MAX_NESTING:
        raise ManifestFormatError(f"manifest list {manifest_descriptor.digest} nests more than {MAX_NESTING} levels")
    manifest = load_manifest(content, f"manifest {manifest_descriptor.digest}")
    if is_index(manifest, content_type):
        for child in select_children(manifest, manifest_descriptor.digest, wanted):
            child_content, child_type = fetch_manifest(child)
            child_type = child_type or child.media_type
            # The platform chose among this index's entries; only a nested index chooses again.
            _walk(plan, child_content, child, child_type, fetch_manifest,
                  wanted if child_type in INDEX_TYPES else None, depth + 1)
        return
    blobs = image_blobs(manifest, manifest_descriptor.digest, manifest_descriptor.platform)
    if wanted is not None and manifest_descriptor.platform is None:
        # A single-platform image: its config says which platform it is; the verifier compares.
        blobs[0] = dataclasses.replace(blobs[0], platform=wanted, role="config-for-platform")
    plan.add_image(manifest_descriptor, blobs)


@dataclasses.dataclass
class BlobResult:
    descriptor: Descriptor
    digest: str
    size: int
    complete: bool = True  # False when the registry sent more than was expected and reading stopped
    retained: bytes | None = None
    cut: bool = False  # the connection ended before the bytes the registry announced
    announced: int | None = None


class BlobVerifier:
    """Fetch and re-hash blobs of one repository, ``workers`` at a time, through ``client`` (a ``RegistryClient``).

    The blobs go over the client's transport: the same trust, the same handling of an insecure registry, the
    same credentials rules as the manifest requests.
    """

    def __init__(self, client, repository: str, workers: int = WORKERS, chunk_size: int = CHUNK_SIZE) -> None:
        self.client, self.repository = client, repository
        self.workers, self.chunk_size = max(1, workers), chunk_size
        self._local = threading.local()
        self._stop = threading.Event()

    def verify(self, plan: BlobPlan) -> dict:
        """Re-hash every blob of ``plan`` and return the counts; raise what failed (the earliest in plan order).

        Once a blob fails, the blobs not yet started are not fetched and those under way stop.
        """
        started = time.monotonic()
        blobs = sorted(plan.blobs.values(), key=lambda blob: blob.size, reverse=True)  # big ones first: even finish
        order = {digest: number for number, digest in enumerate(plan.blobs)}
        failures = []
        with concurrent.futures.ThreadPoolExecutor(min(self.workers, len(blobs)) or 1) as pool:
            futures = {pool.submit(self._judge, blob): blob for blob in blobs}
            for future in concurrent.futures.as_completed(futures):
                if future.cancelled():
                    continue
                problem = future.result()
                if problem is not None:
                    failures.append((order[futures[future].digest], problem))
                    for other in futures:
                        other.cancel()
        if failures:
            raise min(failures, key=lambda failure: failure[0])[1]
        roles = [blob.role for blob in plan.blobs.values()]
        return {
            "manifests": len(plan.manifests),
            "platforms": plan.platforms,
            "blobs": len(plan.blobs),
            "configs": sum(role != "layer" for role in roles),
            "layers": roles.count("layer"),
            "bytes": plan.size,
            "seconds": round(time.monotonic() - started, 3),
        }

    def _judge(self, blob: Descriptor) -> Exception | None:
        """What is wrong with ``blob`` (None: nothing, or not fetched). Judged in the worker itself, so that a failure
        stops the blobs not yet started at once, not only once the verifying thread hears of it."""
        try:
            problem = mismatch(self._fetch(blob), self.repository)
        except RegistryError as exc:
            problem = exc
        if problem is not None:
            self._stop.set()
        return problem

    def _fetch(self, blob: Descriptor) -> BlobResult | None:
        """The blob's hash and size; a transfer cut short is tried once more.

        A registry that stops at the same byte twice serves a damaged blob, which the size check reports; one that
        stops at different places had its transfers broken off, which says nothing about the blob.
        """
        first = self._get(blob)
        if first is None or not first.cut:
            return first
        second = self._get(blob)
        if second is None or not second.cut or (second.size, second.digest) == (first.size, first.digest):
            return second
        raise BlobFetchError(f"the transfer of blob {blob.digest} ({blob.where}) from registry {self.client.registry} "
                             f"broke off twice, after {first.size} and {second.size} of {second.announced} bytes; "
                             "nothing is wrong with the blob as far as is known, run again")

    def _get(self, blob: Descriptor) -> BlobResult | None:
        if self._stop.is_set():
            return None
        path = f"/v2/{self.repository}/blobs/{blob.digest}"
        what = f"GET of blob {blob.digest} ({blob.where})"
        deadline = self.client.blob_deadline(blob.size, what)
        try:
            response = self.client.request("GET", path, {"Accept": "*/*"}, deadline)
        except RegistryConnectionError as exc:
            raise BlobFetchError(f"cannot fetch blob {blob.digest} ({blob.where}): {exc}") from None
        if response.status != 200:
            body = response.error_body() if response.status >= 400 else b""
            if response.status == 401:
                raise BlobFetchError(self.client.unauthorized(what, response.header("WWW-Authenticate") or ""))
            raise BlobFetchError(f"registry {self.client.registry} answered {response.status} {response.reason} to "
                                 f"{what} in repository {self.repository}{error_detail(body)}")
        try:
            return self._stream(blob, response)
        except (OSError, http.client.HTTPException) as exc:
            response.close()
            if isinstance(exc, socket.timeout) and deadline.passed():
                exc = deadline.exceeded()  # the bytes kept coming, too slowly for the blob's size
            raise BlobFetchError(f"the transfer of blob {blob.digest} ({blob.where}) from registry "
                                 f"{self.client.registry} failed: {str(exc) or type(exc).__name__}") from None

    def _stream(self, blob: Descriptor, response) -> BlobResult | None:
        hasher, size, complete, cut = hashlib.sha256(), 0, True, False
        retain = blob.role == "config-for-platform" and blob.size <= RETAINED_CONFIG_SIZE
        kept = bytearray() if retain else None
        buffer = getattr(self._local, "buffer", None)
        if buffer is None:
            buffer = self._local.buffer = memoryview(bytearray(self.chunk_size))
        # Past the announced size a registry may stream forever: read on only while it said how much comes.
        announced = response.length
        limit = blob.size if announced is None else max(blob.size, announced)
        while True:
            try:
                count = response.readinto(buffer)
            except http.client.IncompleteRead:
                count, cut = 0, True  # the connection ended before the Content-Length announced
            if not count:
                break
            hasher.update(buffer[:count])
            size += count
            if kept is not None and size <= RETAINED_CONFIG_SIZE:
                kept += buffer[:count]
            if size > limit:
                complete = False
                break
            if self._stop.is_set():  # another blob failed: this one's verdict no longer matters
                response.close()
                return None
        cut = cut or (announced is not None and size < announced)
        response.close()  # stopped early or read to the end: either way this response is done
        return BlobResult(blob, PREFIX + hasher.hexdigest(), size, complete, bytes(kept) if kept is not None else None,
                          cut=cut, announced=announced)


def mismatch(result: BlobResult | None, repository: str) -> Exception | None:
    """The error for a blob whose bytes do not match its descriptor, or None when they match."""
    if result is None:  # not fetched: another blob failed first
        return None
    blob = result.descriptor
    if not result.complete:
        return BlobMismatchError(
            f"blob mismatch in repository {repository}: blob {blob.digest} ({blob.where}) should be {blob.size} "
            f"bytes, but the registry served more than {blob.size} (reading stopped after {result.size})")
    if result.size != blob.size:
        return BlobMismatchError(
            f"blob mismatch in repository {repository}: blob {blob.digest} ({blob.where}) should be {blob.size} "
            f"bytes, but the registry served {result.size} bytes, which hash to {result.digest}")
    if result.digest != blob.digest:
        return BlobMismatchError(
            f"blob mismatch in repository {repository}: expected {blob.digest}, found {result.digest} "
            f"({blob.where}, {blob.size} bytes)")
    if blob.role == "config-for-platform":
        return _platform_mismatch(result, blob)
    return None


def _platform_mismatch(result: BlobResult, blob: Descriptor) -> Exception | None:
    try:
        config = json.loads(result.retained or b"")
    except ValueError:
        config = None
    actual = platform_of(config) if isinstance(config, dict) else None
    if actual is None:
        return PlatformError(f"platform: {blob.where} does not say which platform the image is for, so it cannot "
                             f"be checked against {blob.platform}")
    if not blob.platform.matches(actual):
        return PlatformError(f"platform: {blob.where.replace('the config of ', '')} is an image for {actual}, "
                             f"not {blob.platform}")
    return None
