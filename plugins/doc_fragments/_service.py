# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: the option of the modules that keep a daemon running
(module_utils/_service.py), and how those that run a program of their own keep it running, described once."""

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

    # The modules that run a program of their own as a service (module_utils/_service_module.py): how they keep it
    # running, described once. Every option named here is one each of them has.
    PROGRAM = r"""
options: {}
notes:
  - The program runs as a service, kept running by systemd where it is the service manager (a unit of its own, which
    starts it again whenever it exits), and elsewhere by a small supervisor started detached, a script in
    O(config_dir) that does the same (pid files in C(/run/dockyard)); O(service_manager) chooses. Either way the
    program's output is appended to O(log).
  - The module writes only what differs, and starts, restarts or reloads the program only where it does not run or
    where what it runs or reads changed. It then waits up to O(timeout) seconds until the program answers, and fails
    with the end of O(log) where it does not. A run that changes nothing is one call of the module on the host, which
    checks that the program still answers.
"""
