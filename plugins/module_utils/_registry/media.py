# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: the registry API's media types, headers and size limits."""

from __future__ import annotations

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
INDEX_TYPES = (DOCKER_MANIFEST_LIST, OCI_INDEX)
# Without the list types a registry may answer with (or convert to) another manifest, and so another digest.
MANIFEST_ACCEPT = f"{DOCKER_MANIFEST}, {DOCKER_MANIFEST_LIST}, {OCI_MANIFEST}, {OCI_INDEX}"

DIGEST_HEADER = "Docker-Content-Digest"
API_VERSION_HEADER = "Docker-Distribution-Api-Version"

# What a registry may send before the client stops reading: Distribution refuses manifests over 4 MiB itself,
# an error body or a /v2/ answer is a few hundred bytes, and an index lists a handful of platforms.
MAX_MANIFEST_BYTES = 4 << 20
MAX_ERROR_BYTES = 64 << 10
MAX_INDEX_CHILDREN = 256
MAX_NESTING = 4  # an index may name indexes; more levels than this are not images but a loop
MAX_REDIRECTS = 5
