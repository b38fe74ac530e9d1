# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: private_key_state
short_description: Whether a private key on the controller is there, encrypted, and opened by a passphrase
version_added: 0.2.0
author:
  - dockyard maintainers (@dockyard)
description:
  - Reads a PEM private key on the controller and says what state it is in, without returning anything of the
    key itself; the registry_pki role checks the CA's key with it before any host changes.
  - V(missing) (no file), V(unencrypted) (a key without a passphrase), V(encrypted) (opened by O(passphrase)),
    V(wrong_passphrase) (encrypted, and O(passphrase) does not open it, or is empty), or V(unreadable) (not a key).
options:
  _terms:
    description: The key's path on the controller.
    type: list
    elements: path
    required: true
  passphrase:
    description: The passphrase to try.
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Refuse a CA key the passphrase does not open
  ansible.builtin.assert:
    that: lookup('dockyard.registry.private_key_state', registry_pki_dir ~ '/ca.key', passphrase=registry_pki_ca_passphrase) != 'wrong_passphrase'
"""

RETURN = r"""
_raw:
  description: One state per path.
  type: list
  elements: str
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

try:
    from cryptography.hazmat.primitives import serialization
except ImportError:
    serialization = None


def key_state(path: str, passphrase: str) -> str:
    try:
        with open(path, "rb") as key:
            pem = key.read()
    except FileNotFoundError:
        return "missing"
    try:
        serialization.load_pem_private_key(pem, password=None)
        return "unencrypted"
    except TypeError:  # encrypted: a password is needed
        pass
    except ValueError:
        return "unreadable"
    if not passphrase:
        return "wrong_passphrase"
    try:
        serialization.load_pem_private_key(pem, password=passphrase.encode())
    except (ValueError, TypeError):
        return "wrong_passphrase"
    return "encrypted"


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        if serialization is None:
            raise AnsibleLookupError("dockyard.registry.private_key_state needs the Python library cryptography on the "
                                     "controller")
        return [key_state(str(path), self.get_option("passphrase") or "") for path in terms]
