# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_gc_guard
short_description: What a garbage collection of the registry's storage would take from the images it keeps
version_added: 0.2.0
description:
  - Reads the registry's storage on the host (the layout of Distribution's C(filesystem) driver) and returns the
    image indexes (multi-platform images) it holds, in RV(indexes).
  - Given the output of C(registry garbage-collect) in O(listing), walks from every tag, and from every image of
    O(keep), through image indexes to the image manifests and their configs and layers, and returns in
    RV(endangered) each tag or image that would lose any of them.
  - Distribution 2.8 with C(--delete-untagged) lists the untagged child manifests of a tagged image index for
    deletion (distribution#3178), so that the tag survives but its platforms do not. A dry run's listing shows
    that here, before anything is deleted.
  - The registry_server role's C(gc) entry point runs it before collecting garbage.
  - Returns the host's FQDN and default IPv4 address as the fact C(dockyard_host).
author:
  - dockyard maintainers (@dockyard)
extends_documentation_fragment:
  - dockyard.registry._attributes
  - dockyard.registry._attributes.READ_ONLY
options:
  path:
    description:
      - The registry's storage on this host, the directory mounted as the C(filesystem) driver's C(rootdirectory)
        (C(registry_server_data_dir) of the registry_server role).
    type: path
    required: true
  listing:
    description:
      - The output of C(registry garbage-collect), with or without C(--dry-run). Its lines C(manifest eligible for
        deletion) and C(blob eligible for deletion) are what the collection deletes.
      - Not given, the module returns RV(indexes) only.
    type: str
  keep:
    description:
      - Images that must survive even where no tag points to them, by digest, as C(<registry>/<repository>@sha256:<64 hex>)
        or C(<repository>@sha256:<64 hex>).
    type: list
    elements: str
    default: []
notes:
  - Storage on another driver (S3 and the like) is not on the host to read; the module fails naming O(path).
seealso:
  - name: Garbage collection in Distribution
    description: What C(registry garbage-collect) marks and sweeps.
    link: https://distribution.github.io/distribution/about/garbage-collection/
  - name: distribution#3178
    description: C(--delete-untagged) deletes the child manifests of image indexes.
    link: https://github.com/distribution/distribution/issues/3178
"""

EXAMPLES = r"""
- name: Find the image indexes the registry stores
  dockyard.registry.registry_gc_guard:
    path: /var/lib/dockyard/registry
  register: _registry_storage

- name: Find what a dry run's deletions would take from tagged images and from one kept by digest
  dockyard.registry.registry_gc_guard:
    path: /var/lib/dockyard/registry
    listing: "{{ _registry_dry_run.stdout }}"
    keep:
      - registry.example.com:5000/team/app@sha256:3ab7cd1d49dbabec8eced2dcac731c13ecfcf0db2d94eb8282e8d30524b28ec7
  register: _registry_guard
"""

RETURN = r"""
repositories:
  description: How many repositories the storage holds.
  returned: always
  type: int
  sample: 12
indexes:
  description: Every image index (manifest list or OCI index) stored, tagged or not.
  returned: always
  type: list
  elements: dict
  contains:
    repository:
      description: Its repository.
      type: str
    digest:
      description: Its digest.
      type: str
    tags:
      description: The tags that point to it (empty for an untagged index).
      type: list
      elements: str
    references:
      description: It as C(repository:tag) for each of its tags, or as C(repository@digest) when it has none.
      type: list
      elements: str
    children:
      description: The digests of the manifests it lists.
      type: list
      elements: str
  sample:
    - repository: team/app
      digest: sha256:1c5783c80b5f7f93b7a1f0a0dbaaa6ddadbd5bacc383f4c146d235bf329e677c
      tags: ["1.0"]
      references: ["team/app:1.0"]
      children:
        - sha256:18f45557b4ddff1c4d8ff068cfbc26621fd848cff13a660aef5ed9329497d0de
        - sha256:b324408552825dfefa490ddab08ff1938532427df8c5106b3aaf01656f721374
eligible_bytes:
  description: The bytes that the blobs O(listing) lists take in the storage, which their deletion frees.
  returned: when O(listing) is given
  type: int
  sample: 52428800
endangered:
  description: Each tag (C(repository:tag)) or image of O(keep) (C(repository@digest)) that O(listing) would take something from.
  returned: when O(listing) is given
  type: list
  elements: dict
  contains:
    reference:
      description: The tag or the kept image.
      type: str
    digest:
      description: The digest of the manifest the tag points to, or of the kept image.
      type: str
    kept:
      description: Whether it is an image of O(keep).
      type: bool
    index:
      description: Whether it is an image index (a multi-platform image).
      type: bool
    manifests:
      description: Its manifests that would be deleted, each with its platform where an index names one.
      type: list
      elements: str
    blobs:
      description: Its blobs (configs, layers, manifest bytes) that would be deleted.
      type: list
      elements: str
    summary:
      description: One line for a message.
      type: str
  sample:
    - reference: team/app:1.0
      digest: sha256:1c5783c80b5f7f93b7a1f0a0dbaaa6ddadbd5bacc383f4c146d235bf329e677c
      kept: false
      index: true
      manifests:
        - sha256:18f45557b4ddff1c4d8ff068cfbc26621fd848cff13a660aef5ed9329497d0de (linux/amd64)
        - sha256:b324408552825dfefa490ddab08ff1938532427df8c5106b3aaf01656f721374 (linux/arm64)
      blobs: []
      summary: >-
        team/app:1.0 would lose manifests sha256:18f45557b4ddff1c4d8ff068cfbc26621fd848cff13a660aef5ed9329497d0de
        (linux/amd64), sha256:b324408552825dfefa490ddab08ff1938532427df8c5106b3aaf01656f721374 (linux/arm64)
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.registry.plugins.module_utils._gc import (
    Storage,
    StorageError,
    endangered,
    parse_listing,
)
from ansible_collections.dockyard.registry.plugins.module_utils._host import identity
from ansible_collections.dockyard.registry.plugins.module_utils._reference import ReferenceFormatError, parse_reference


def kept_images(entries: list[str]) -> list[tuple[str, str]]:
    """(repository, digest) of each O(keep) entry, given with or without the registry's address, by digest."""
    kept = []
    for entry in entries:
        name = str(entry).split("@", 1)[0]
        first = name.split("/", 1)[0] if "/" in name else ""
        has_registry = "." in first or ":" in first or first == "localhost"
        reference = parse_reference(entry if has_registry else f"registry.invalid/{entry}")
        if not reference.digest:
            raise ReferenceFormatError(str(entry), "it names no digest (@sha256:<64 hex digits>)")
        kept.append((reference.repository, reference.digest))
    return kept


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "listing": {"type": "str"},
            "keep": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    params = module.params
    try:
        keep = kept_images(params["keep"])
    except ReferenceFormatError as exc:
        module.fail_json(msg=f"keep: {exc}")
    try:
        storage = Storage(params["path"])
        result = {"changed": False, "repositories": len(storage.repositories()), "indexes": storage.indexes(),
                  "ansible_facts": {"dockyard_host": identity()}}
        if params["listing"] is not None:
            listing = parse_listing(params["listing"])
            result["endangered"] = endangered(storage, listing, keep)
            result["eligible_bytes"] = storage.blob_bytes(sorted(listing.blobs))
    except StorageError as exc:
        module.fail_json(msg=f"path: {exc}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
