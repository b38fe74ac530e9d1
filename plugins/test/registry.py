# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Jinja2 tests about registries and images."""

from __future__ import annotations

DOCUMENTATION = r"""
name: image_reference
short_description: Is a string a Docker image reference
version_added: 0.1.0
author:
  - dockyard maintainers (@dockyard)
description:
  - True when the input parses as an image reference the way C(docker push) and C(docker pull) parse one
    (CNCF Distribution's grammar), with an optional registry C(host[:port]) (including C([IPv6]:port)),
    a lowercase repository path, an optional tag and an optional C(@sha256:) digest of 64 lowercase hexadecimal
    digits.
  - False for anything else, including values that are not strings.
  - Use it to validate variables early, for example in C(ansible.builtin.assert) or a role's argument checks,
    before a task fails on a malformed name.
options:
  _input:
    description: The string to check.
    type: raw
    required: true
seealso:
  - module: dockyard.registry.registry_image
"""

EXAMPLES = r"""
- name: Refuse a malformed image name before anything is pushed
  ansible.builtin.assert:
    that:
      - registry_image_name is dockyard.registry.image_reference
    fail_msg: "{{ registry_image_name }} is not an image reference such as registry.example.com:5000/team/app:1.0"

- name: These are references
  ansible.builtin.assert:
    that:
      - "'registry.example.com:5000/team/app:1.0' is dockyard.registry.image_reference"
      - "('[2001:db8::1]:5000/app@sha256:' ~ '0' * 64) is dockyard.registry.image_reference"
      - "'alpine' is dockyard.registry.image_reference"

- name: These are not
  ansible.builtin.assert:
    that:
      - "'Team/App:1.0' is not dockyard.registry.image_reference"
      - "'registry.example.com:5000/app:' is not dockyard.registry.image_reference"
"""

RETURN = r"""
_value:
  description: Whether the input is an image reference.
  type: boolean
"""

from ansible_collections.dockyard.registry.plugins.module_utils._reference import is_reference


def image_reference(value) -> bool:
    """Whether ``value`` parses as an image reference (see ``module_utils/_reference.py``)."""
    return is_reference(value)


class TestModule:
    """Ansible's entry point for test plugins."""

    def tests(self) -> dict:
        return {"image_reference": image_reference}
