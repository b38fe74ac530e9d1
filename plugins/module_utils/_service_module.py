# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: what the modules that run a program of their own as a service
(registry_store, registry_cache, registry_lb) share, written once.

The options they all have (:func:`service_options`, described in the doc fragment dockyard.registry._service), one
run of such a module (:class:`ServiceHost`: its files, the program kept running with :class:`_service.Service` and
awaited until it answers, and the result with its diff), and :func:`run_module`, which runs it and turns what went
wrong into the module's failure.
"""

from __future__ import annotations

import os
import socket

from ansible_collections.dockyard.registry.plugins.module_utils._files import Files
from ansible_collections.dockyard.registry.plugins.module_utils._host import identity
from ansible_collections.dockyard.registry.plugins.module_utils._service import (
    SERVICE_MANAGER_OPTION,
    Service,
    ServiceError,
)


def listening(host: str, port: int) -> bool:
    """Whether something takes TCP connections at ``host``:``port`` (within 2 s)."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


class ServiceHost:
    """One run of a service module on its host: the files it writes, the program it keeps running, its result.

    A subclass's :meth:`run` returns the module's result; :func:`run_module` calls it.
    """

    def __init__(self, module) -> None:
        self.module = module
        self.params = module.params
        self.files = Files(module)

    def run(self) -> dict:
        raise NotImplementedError

    def missing_program(self) -> dict | None:
        """The result of a run that changes nothing because O(binary) is missing (the role installs the package and
        runs the module again); None where the program is there."""
        if os.access(self.params["binary"], os.X_OK):
            return None
        return {"changed": False, "missing_program": self.params["binary"]}

    def keep_running(self, name: str, argv: list[str], *, description: str, files_changed: bool, ready,
                     user: str = "root", **options) -> str | None:
        """The program ``argv`` kept running as the service ``name`` (its supervisor's script in O(config_dir), its
        output in O(log)), (re)started or reloaded where ``files_changed`` or its definition did, and awaited until
        ``ready()`` returns None (see :meth:`Service.ensure`); what was done. ``options`` go to :class:`Service`."""
        service = Service(self.files, self.module.run_command, name, argv, description=description,
                          log=self.params["log"], state_dir=self.params["config_dir"],
                          manager=self.params["service_manager"], timeout=self.params["timeout"],
                          user=None if user == "root" else user, **options)
        return service.ensure(files_changed, ready)

    def result(self, action: str | None, also_changed: bool = False, **values) -> dict:
        """The module's result: what changed (the files, the service, or ``also_changed``), what was done to the
        service, ``values``, the fact ``dockyard_host``, and the files' diff."""
        result = {"changed": self.files.changed or also_changed, "files": self.files.changed_paths,
                  "service": action, **values, "ansible_facts": {"dockyard_host": identity()}}
        if self.files.diffs:
            result["diff"] = self.files.diffs
        return result


def service_options(*, binary: str, config_dir: str, log: str, timeout: int) -> dict:
    """The argument spec of the options every service module has, with the module's defaults of O(binary),
    O(config_dir), O(log) and O(timeout): a module's ``main()`` adds it to its own options."""
    return {
        "binary": {"type": "path", "default": binary},
        "config_dir": {"type": "path", "default": config_dir},
        "log": {"type": "path", "default": log},
        "service_manager": SERVICE_MANAGER_OPTION,
        "timeout": {"type": "int", "default": timeout},
    }


def run_module(module, host: type[ServiceHost], errors: tuple[type[Exception], ...] = ()) -> None:
    """Run ``host`` for ``module`` and exit with its result; a program that could not be run, a file that could not be
    written (or one of ``errors``) fails the module with its message."""
    try:
        result = host(module).run()
    except (ServiceError, OSError, *errors) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)
