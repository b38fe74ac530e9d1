# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the names and addresses a registry is reached by."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.dockyard.registry.plugins.module_utils._names import (
    client_addresses,
    host_names,
    missing_names,
    name_problems,
    san_entries,
)


def _san_entries(names):
    try:
        return san_entries(names)
    except ValueError as exc:
        raise AnsibleFilterError(f"dockyard.registry.san_entries: {exc}") from exc


def _client_addresses(sans, port):
    try:
        return client_addresses(sans, port)
    except ValueError as exc:
        raise AnsibleFilterError(f"dockyard.registry.client_addresses: {exc}") from exc


def _missing_names(sans, names):
    try:
        return missing_names(sans, names)
    except ValueError as exc:
        raise AnsibleFilterError(f"dockyard.registry.missing_names: {exc}") from exc


class FilterModule:
    """Registry names: validation, certificate SANs, and the addresses Docker clients use."""

    def filters(self):
        return {
            "name_problems": name_problems,
            "san_entries": _san_entries,
            "client_addresses": _client_addresses,
            "missing_names": _missing_names,
            "host_names": host_names,
        }
