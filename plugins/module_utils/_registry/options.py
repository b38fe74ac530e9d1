# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: the options every module that speaks to a registry shares.

A module's ``main()`` takes :func:`connection_argument_spec`, adds its own options, and passes
:func:`connection_requirements` to ``AnsibleModule``; the documentation is the ``dockyard.registry._registry``
doc fragment.
"""

from __future__ import annotations

DEFAULT_TIMEOUT = 60


def connection_argument_spec(timeout: int = DEFAULT_TIMEOUT) -> dict:
    """What the module trusts for the registry, how long it waits, and the account it uses."""
    return {
        "ca_path": {"type": "path"},
        "timeout": {"type": "int", "default": timeout},
        "username": {"type": "str"},
        "password": {"type": "str", "no_log": True},
    }


def connection_requirements() -> dict:
    """The AnsibleModule arguments that go with :func:`connection_argument_spec`."""
    return {"required_together": [("username", "password")]}
