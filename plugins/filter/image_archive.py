# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters for ``docker save`` archives on the controller: which image each holds, read from its manifest.json."""

from __future__ import annotations

import os

from ansible_collections.dockyard.registry.plugins.module_utils._reference import ReferenceFormatError, parse_reference
from ansible_collections.dockyard.registry.plugins.plugin_utils._filters import filter_errors


def _reader():
    """community.docker's reader of archives, imported where an archive is read: a task that uses any of the
    collection's filters loads this file, and most read no archive."""
    from ansible_collections.community.docker.plugins.module_utils import image_archive  # pylint: disable=import-outside-toplevel

    return image_archive


def _entries(path: str) -> list:
    """The images of the archive at ``path`` (community.docker reads its manifest.json), or ValueError."""
    path = os.path.expanduser(path)
    reader = _reader()
    try:
        entries = reader.load_archived_image_manifest(path)
    except reader.ImageArchiveInvalidException as exc:
        raise ValueError(f"{path} is not an archive of `docker save`: {exc}") from exc
    if entries is None:
        raise ValueError(f"{path} is not a file")
    return entries


def _tagged(name: str) -> str | None:
    """``name`` as the daemon writes it in RepoTags (``registry:2`` for ``docker.io/library/registry:2``)."""
    try:
        return parse_reference(name).tagged
    except ReferenceFormatError:
        return None


def archived_image_id(path: str, image: str) -> str:
    """The ID (``sha256:<hex>``) of the image the archive at ``path`` holds under the name ``image``; empty where it
    holds none by that name."""
    wanted = _tagged(image)
    for entry in _entries(path):
        if wanted and wanted in {_tagged(tag) for tag in entry.repo_tags or []}:
            return _reader().api_image_id(entry.image_id)
    return ""


def archived_image_tags(path: str) -> list[str]:
    """Every name under which the archive at ``path`` holds an image."""
    return [tag for entry in _entries(path) for tag in entry.repo_tags or []]


class FilterModule:
    """docker save archives."""

    def filters(self):
        return {
            "archived_image_id": filter_errors("archived_image_id", archived_image_id),
            "archived_image_tags": filter_errors("archived_image_tags", archived_image_tags),
        }
