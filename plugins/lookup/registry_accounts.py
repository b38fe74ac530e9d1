# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: registry_accounts
short_description: The registry's accounts, as given or as the collection makes them by default
version_added: 0.3.0
author:
  - dockyard maintainers (@dockyard)
description:
  - The one place where the collection works out the registry's accounts, for the registry host's proxy
    (registry_server), the Docker hosts' login (registry_trust) and the smoke test's push.
  - O(users) (C(registry_users)) as given, when it lists any. Otherwise, unless O(anonymous), two accounts whose
    passwords are made once on the controller in C(<pki_dir>/secrets/) (0600), as the C(ansible.builtin.password)
    lookup makes them; V(dockyard-pull) (role V(pull)), which every Docker host logs in with, and V(dockyard) (role
    V(push)), a pipeline's, which the smoke test pushes with.
  - With O(role), only the accounts of that role.
options:
  users:
    description: The accounts given (C(registry_users)).
    type: list
    elements: dict
    default: []
  anonymous:
    description: The registry takes anonymous pushes and pulls (C(registry_allow_anonymous)); no account is made.
    type: bool
    default: false
  pki_dir:
    description: The controller directory of the collection's state (C(registry_pki_dir)), whose C(secrets/) keeps the
      passwords of the accounts made by default.
    type: path
    required: true
  role:
    description: Only the accounts of this role.
    type: str
    choices: [pull, push]
"""

EXAMPLES = r"""
- name: The account the pipeline pushes with
  ansible.builtin.set_fact:
    pipeline_account: >-
      {{ query('dockyard.registry.registry_accounts', users=registry_users, pki_dir=registry_pki_dir, role='push')
         | first }}
  no_log: true
"""

RETURN = r"""
_raw:
  description: The accounts, each with C(name), C(password), C(role) and, for a push account limited to some
    repositories, C(repositories).
  type: list
  elements: dict
"""

import os

from ansible.plugins.loader import lookup_loader
from ansible.plugins.lookup import LookupBase

# The accounts made where registry_users is empty: name, role. Their passwords are kept in
# <pki_dir>/secrets/registry-account-<name>; "dockyard" is the account earlier releases made (then the only one).
DEFAULT_ACCOUNTS = (("dockyard", "push"), ("dockyard-pull", "pull"))
PASSWORD_LENGTH = 32


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        users = self.get_option("users") or []
        if not users and not self.get_option("anonymous"):
            password = lookup_loader.get("ansible.builtin.password", loader=self._loader, templar=self._templar)
            secrets = os.path.join(self.get_option("pki_dir"), "secrets")
            users = [{"name": name, "role": role,
                      "password": password.run([os.path.join(secrets, f"registry-account-{name}")], variables,
                                               chars=["ascii_letters", "digits"], length=PASSWORD_LENGTH)[0]}
                     for name, role in DEFAULT_ACCOUNTS]
        role = self.get_option("role")
        return [user for user in users if role is None or (isinstance(user, dict) and user.get("role") == role)]
