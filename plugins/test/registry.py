# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Jinja2 tests about registries and images (their documentation: the YAML file of each beside this one)."""

from __future__ import annotations

from ansible_collections.dockyard.registry.plugins.module_utils._names import mirror_url_problem
from ansible_collections.dockyard.registry.plugins.module_utils._reference import is_reference


def image_reference(value) -> bool:
    """Whether ``value`` parses as an image reference (see ``module_utils/_reference.py``)."""
    return is_reference(value)


def mirror_url(value) -> bool:
    """Whether ``value`` is a registry mirror's URL, https://<host>[:<port>] (see ``module_utils/_names.py``)."""
    return mirror_url_problem(value) is None


class TestModule:
    """Ansible's entry point for test plugins."""

    def tests(self) -> dict:
        return {"image_reference": image_reference, "mirror_url": mirror_url}
