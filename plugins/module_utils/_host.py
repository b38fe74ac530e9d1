# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: what a host is known by, without gathering Ansible's facts.

The collection's modules return it as the fact ``dockyard_host`` (``fqdn``, ``default_ipv4``), which the
``registry_addresses`` lookup reads: the names a registry's certificate carries come from the host itself at no
extra cost, where ``setup`` would take a second or more per host.
"""

from __future__ import annotations

import socket

# The address Ansible's own default_ipv4 fact asks the route to (``ip -4 route get 8.8.8.8``): the kernel picks
# the source address of the default route for it. Connecting a UDP socket sends nothing.
_OUTSIDE = ("8.8.8.8", 53)


def default_ipv4() -> str | None:
    """The IPv4 address of the interface that carries the default route, or None without one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(_OUTSIDE)
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("0.") else address


def identity() -> dict:
    """The fact ``dockyard_host``: the host's FQDN and its default IPv4 address (None where unknown).

    The FQDN is what Ansible's own ``fqdn`` fact says (``socket.getfqdn()``), ``localhost`` included: the
    addresses clients use leave loopback names out later.
    """
    return {"fqdn": socket.getfqdn() or None, "default_ipv4": default_ipv4()}
