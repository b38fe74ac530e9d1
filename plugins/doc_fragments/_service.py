# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: the option of the modules that keep a daemon running
(module_utils/_service.py), described once."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  service_manager:
    description: V(systemd), V(direct) (a supervisor started detached), or V(auto) (systemd where it runs).
    type: str
    choices: [auto, systemd, direct]
    default: auto
"""
