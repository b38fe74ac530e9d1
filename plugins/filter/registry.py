# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the names and addresses a registry is reached by."""

from __future__ import annotations

from ansible_collections.dockyard.registry.plugins.module_utils._names import (
    client_addresses,
    host_names,
    missing_names,
    name_problems,
    san_entries,
)
from ansible_collections.dockyard.registry.plugins.plugin_utils._filters import filter_errors


class FilterModule:
    """Registry names: validation, certificate SANs, and the addresses Docker clients use."""

    def filters(self):
        return {
            "name_problems": name_problems,
            "san_entries": filter_errors("san_entries", san_entries),
            "client_addresses": filter_errors("client_addresses", client_addresses),
            "missing_names": filter_errors("missing_names", missing_names),
            "host_names": host_names,
        }
