# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: registry_addresses
short_description: The host:port addresses Docker clients use to reach each registry host
version_added: 0.2.0
author:
  - dockyard maintainers (@dockyard)
description:
  - The one place where the collection works out by which addresses clients reach a registry. The PKI issues the
    certificate for them, trust installs the CA (or lists them as insecure) for each, and the probe and the smoke
    test use them.
  - For a registry that serves TLS, and whose certificate the controller keeps (C(<pki_dir>/servers/<host>.crt),
    written by the registry_pki role), the addresses are the certificate's subject alternative names. Otherwise they
    are the names the host is known by (inventory name, C(ansible_host), FQDN and default IPv4 address, as far as
    known) with O(names).
  - Where the inventory has a group C(registry_lb), clients reach the registry through its load balancers, and the
    addresses are theirs instead (unless O(balanced=false)), each load balancer's names, found as a registry host's
    are (inventory name, C(ansible_host), FQDN and default IPv4 address, as far as known), with O(names), the names
    the registry_pki role puts into every replica's certificate.
  - Every name and address is checked before it is returned (RFC 1123 DNS names, IP addresses without a zone; a
    certificate brought along may have wildcard names, which are left out). A certificate kept on the controller
    with any other subjectAltName, a bad entry of O(names), or an inventory host name that cannot name a file
    (a slash, a line break) fails the lookup naming the host, so that nothing else reaches a configuration file.
  - Loopback addresses and names are left out (Docker never verifies TLS for them), so are wildcard names; IPv6
    addresses are bracketed. Each host's IP addresses come before its names, and its first address is the one the
    probe and the smoke test use.
options:
  _terms:
    description: Inventory names of registry hosts.
    type: list
    elements: str
    required: true
  port:
    description: The port the registry listens on (C(registry_port)).
    type: int
    default: 5000
  tls:
    description: Whether the registry serves TLS (C(registry_tls)).
    type: bool
    default: true
  pki_dir:
    description: The controller directory of the CA and of the copies of the registry hosts' certificates
      (C(registry_pki_dir)). Defaults to C(pki) beside the inventory.
    type: path
  names:
    description: Further DNS names and IP addresses clients use (C(registry_names)).
    type: list
    elements: str
    default: []
  primary:
    description: Only the first address of each host, the one the probe and the smoke test use.
    type: bool
    default: false
  balanced:
    description:
      - Where the inventory has load balancers (the group C(registry_lb)), return their addresses, which clients use.
      - V(false) returns the registry hosts' own addresses, those the load balancers send clients to.
    type: bool
    default: true
  mirrors:
    description:
      - Return the C(https://<host>:<port>) URLs of the pull-through mirrors instead, one for each of the hosts whose
        inventory turns theirs on (C(registry_server_mirror_enabled)), at its C(registry_server_mirror_port) (5001
        where the inventory gives none) and its first address (O(primary) applies). O(port) and O(tls) are unused.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Every address of the registry hosts
  ansible.builtin.debug:
    msg: "{{ query('dockyard.registry.registry_addresses', *groups['registry'], port=registry_port) }}"

- name: The replicas' own addresses behind the load balancers
  ansible.builtin.debug:
    msg: "{{ query('dockyard.registry.registry_addresses', *groups['registry'], balanced=false) }}"

- name: The address the smoke test pushes to, one for each registry host
  ansible.builtin.set_fact:
    smoke_addresses: "{{ query('dockyard.registry.registry_addresses', *groups['registry'], primary=true) }}"

- name: The URL of every pull-through mirror the registry hosts run
  ansible.builtin.debug:
    msg: "{{ query('dockyard.registry.registry_addresses', *groups['registry'], mirrors=true, primary=true) }}"
"""

RETURN = r"""
_raw:
  description:
    - C(host:port) addresses, each once, for all the hosts given, in their order; or, behind load balancers, for
      every load balancer in the group's order.
    - With O(mirrors), C(https://<host>:<port>) URLs.
  type: list
  elements: str
"""

import os

from ansible.errors import AnsibleLookupError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.lookup import LookupBase

from ansible_collections.dockyard.registry.plugins.module_utils._names import (
    certificate_copy,
    client_addresses,
    host_names,
    port_problem,
    san_entries,
)

LOOKUP = "dockyard.registry.registry_addresses"
MIRROR_PORT = 5001  # registry_server_mirror_port's default


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        variables = variables or {}
        pki_dir = self.get_option("pki_dir") or os.path.join(variables.get("inventory_dir") or ".", "pki")
        try:
            extra = san_entries(self.get_option("names"))
        except ValueError as exc:
            raise AnsibleLookupError(f"{LOOKUP}: names (registry_names): {exc}") from exc
        if not self.get_option("mirrors"):
            return self._addresses(terms, variables, extra, pki_dir, self.get_option("port"), self.get_option("tls"))
        urls = []
        for host in terms:
            hostvars = self._hostvars(host, variables)
            if not boolean(hostvars.get("registry_server_mirror_enabled", False), strict=False):
                continue
            port = hostvars.get("registry_server_mirror_port", MIRROR_PORT)
            problem = port_problem(port)
            if problem:
                raise AnsibleLookupError(f"{LOOKUP}: registry_server_mirror_port of {host}: {problem}")
            for address in self._addresses([host], variables, extra, pki_dir, int(port), True):
                if f"https://{address}" not in urls:
                    urls.append(f"https://{address}")
        return urls

    def _addresses(self, terms, variables: dict, extra: list[str], pki_dir: str, port, tls: bool) -> list[str]:
        """The addresses of the hosts ``terms`` at ``port``, or of the load balancers where clients go through them."""
        addresses = []
        balancers = (variables.get("groups") or {}).get("registry_lb") or []
        balanced = bool(balancers) and self.get_option("balanced")
        for host in balancers if balanced else terms:
            found = self._host_addresses(host, variables, extra, None if balanced else pki_dir, port, tls)
            for address in found[:1 if self.get_option("primary") else None]:
                if address not in addresses:
                    addresses.append(address)
        return addresses

    @staticmethod
    def _hostvars(host: str, variables: dict):
        hostvars = variables.get("hostvars", {}).get(host)
        if hostvars is None:
            raise AnsibleLookupError(f"{LOOKUP}: {host!r} is not an inventory host")
        return hostvars

    def _host_addresses(self, host: str, variables: dict, extra: list[str], pki_dir: str | None, port,
                        tls: bool) -> list[str]:
        """The host's addresses, IP addresses first: those of its certificate kept in ``pki_dir``, or its names."""
        hostvars = self._hostvars(host, variables)
        source = f"the names of {host} (inventory name, ansible_host, FQDN and default IPv4 address)"
        sans = None
        if pki_dir is not None and tls:
            try:
                path = certificate_copy(pki_dir, host)
            except ValueError as exc:
                raise AnsibleLookupError(f"{LOOKUP}: {exc}") from exc
            sans = self._certificate_sans(path)
            source = f"the certificate of {host} kept on the controller ({path})"
        if sans is None:
            sans = san_entries(host_names(hostvars)) + extra
        try:
            addresses = client_addresses(sans, port)
        except ValueError as exc:
            raise AnsibleLookupError(f"{LOOKUP}: {source}: {exc}. No address of it is used; issue the certificate "
                                     "again with valid names.") from exc
        return sorted(addresses, key=lambda address: not address[:1].isdigit() and not address.startswith("["))

    @staticmethod
    def _certificate_sans(path: str) -> list[str] | None:
        if not os.path.isfile(path):
            return None
        # Imported here, where a certificate is read: a lookup for the mirrors' URLs reads none.
        try:
            from cryptography import x509  # pylint: disable=import-outside-toplevel
        except ImportError:
            raise AnsibleLookupError(f"{LOOKUP} needs the Python library cryptography on the controller to read the "
                                     "registry's certificate") from None
        with open(path, "rb") as pem:
            certificate = x509.load_pem_x509_certificate(pem.read())
        try:
            sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return []
        return ([f"DNS:{name}" for name in sans.get_values_for_type(x509.DNSName)]
                + [f"IP:{address}" for address in sans.get_values_for_type(x509.IPAddress)])
