# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: where each container runtime of a host reads its registry trust.

One module per runtime plans the files that make it trust a registry (``containerd``, ``docker`` for the
hosts.toml of Docker's containerd image store, ``podman`` for the containers/image family), ``detect`` finds which
runtimes a host has, ``files`` holds the plan's operations and applies them through callables the caller passes,
and ``tomlfile`` reads and edits TOML without losing a byte of what it does not change.
"""
