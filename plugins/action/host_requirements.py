# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""dockyard.registry.host_requirements: which Python libraries a host lacks for the collection's modules.

The host is asked with one command and the standard library only: the host's interpreter (the one Ansible runs
modules with, discovered as Ansible discovers it where the inventory does not name one) runs the source of
``module_utils/_host_survey.py``, which reads the libraries' metadata and prints what it found. No module wrapper is
built or sent, so a host as it comes is asked before any module of the collection runs there, at the cost of one
interpreter start. What is missing, and which OS packages bring it, is worked out here from ``_requirements``.
"""

from __future__ import annotations

import json
import os
import shlex

from ansible import constants as C
from ansible.executor.interpreter_discovery import discover_interpreter
from ansible.plugins.action import ActionBase

from ansible_collections.dockyard.registry.plugins.module_utils import _host_survey
from ansible_collections.dockyard.registry.plugins.module_utils._requirements import (
    LIBRARIES,
    PACKAGE_MANAGER_COMMANDS,
    PACKAGE_MANAGERS,
    findings,
    packages_for,
    python_problem,
)
from ansible_collections.dockyard.registry.plugins.module_utils._runtimes.detect import DOCKER_SOCKETS

ARGUMENT_SPEC = {
    "libraries": {"type": "list", "elements": "str", "required": True, "choices": list(LIBRARIES)},
    "docker_libraries": {"type": "list", "elements": "str", "default": [], "choices": list(LIBRARIES)},
    "docker_socket": {"type": "path"},
    "install_allowed": {"type": "bool"},
}


def survey_source() -> str:
    with open(os.path.splitext(_host_survey.__file__)[0] + ".py", encoding="utf-8") as source:
        return source.read()


def survey_request(libraries: list, docker_libraries: list, docker_socket: str | None) -> dict:
    """The survey's argument: the distributions of the libraries, and where the host's Docker socket and package
    managers may be, as ``_runtimes.detect`` and ``_requirements`` name them."""
    return {
        "distributions": [LIBRARIES[name].distribution for name in libraries],
        "docker_distributions": [LIBRARIES[name].distribution for name in docker_libraries],
        "docker_socket": docker_socket,
        "docker_sockets": list(DOCKER_SOCKETS),
        "package_managers": [[name, PACKAGE_MANAGER_COMMANDS[name]] for name in PACKAGE_MANAGERS],
    }


def outcome(found: dict) -> dict:
    """The action's result from what the host reported (``_host_survey.survey``)."""
    versions = found["versions"]
    by_distribution = {library.distribution: name for name, library in LIBRARIES.items()}
    names = [by_distribution[distribution] for distribution in versions]
    result = findings(names, versions.get)
    manager = found["package_manager"]
    report = {
        "changed": False,
        "interpreter": found["interpreter"],
        "found": {finding.library.name: finding.version for finding in result},
        "missing": [finding.library.name for finding in result if not finding.usable],
        "problems": [finding.problem for finding in result if finding.problem],
        "package_manager": manager,
        "packages": packages_for(result, manager),
        "os_packages_visible": found["os_packages_visible"],
    }
    if "docker_answers" in found:
        report["docker_answers"] = found["docker_answers"]
    return report


def refusal(host: str, report: dict, install_allowed: bool) -> str | None:
    """Why the missing libraries cannot be had on ``host``, naming what to do; None when none is missing or they can be
    installed."""
    if not report["missing"] or (install_allowed and report["packages"] and report["os_packages_visible"]):
        return None
    said = (f"{host} lacks Python libraries that the collection's modules import with {report['interpreter']}: "
            f"{'; '.join(report['problems'])}.")
    if not report["os_packages_visible"]:
        return (f"{said} That interpreter is a virtualenv that does not see the OS packages: install "
                f"{' '.join(report['missing'])} into it with pip, or set ansible_python_interpreter to the system's "
                "python3.")
    if not report["packages"]:
        return (f"{said} No package manager the collection knows was found there: install "
                f"{', '.join(report['missing'])} for that interpreter by hand.")
    return (f"{said} Install the OS packages {' '.join(report['packages'])} ({report['package_manager']}), or set "
            "registry_install_requirements: true to let the collection install them.")


class ActionModule(ActionBase):
    """Ask the host's interpreter for the libraries' versions with the standard library only, and judge them here."""

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        _validation, arguments = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        facts = {}
        interpreter = self._interpreter(task_vars, facts)
        request = survey_request(arguments["libraries"], arguments["docker_libraries"], arguments["docker_socket"])
        command = f"{interpreter} -c {shlex.quote(survey_source())} {shlex.quote(json.dumps(request))}"
        answer = self._low_level_execute_command(command, sudoable=True)
        try:
            found = json.loads(answer.get("stdout", "").strip().splitlines()[-1])
        except (IndexError, ValueError):
            found = None
        if answer.get("rc") != 0 or not isinstance(found, dict):
            said = (answer.get("stderr") or answer.get("stdout") or "").strip() or f"exit status {answer.get('rc')}"
            result.update(failed=True, msg=(
                f"The Python interpreter {interpreter} could not be run on {task_vars.get('inventory_hostname')}: "
                f"{said}. Install python3 there, or name an interpreter that runs in ansible_python_interpreter."))
            return result
        result.update(outcome(found))
        if facts:
            result["ansible_facts"] = facts
        too_old = python_problem(found["python"])
        if too_old:
            result.update(failed=True, msg=(
                f"The Python interpreter {interpreter} on {task_vars.get('inventory_hostname')} {too_old}: install a "
                "newer python3 there and name it in ansible_python_interpreter."))
            return result
        if arguments["install_allowed"] is not None:
            why = refusal(task_vars.get("inventory_hostname", "the host"), result, arguments["install_allowed"])
            if why:
                result.update(failed=True, msg=why)
        return result

    def _interpreter(self, task_vars: dict, facts: dict) -> str:
        """The interpreter modules run with on the host: ansible_python_interpreter, the interpreter Ansible
        discovered there, or one discovered now (kept as the fact discovered_interpreter_python, as Ansible keeps it)."""
        if "ansible_python_interpreter" in task_vars:
            named = self._templar.template(task_vars["ansible_python_interpreter"])
        else:
            named = C.config.get_config_value("INTERPRETER_PYTHON", variables=task_vars)
        named = str(named or "auto").strip()
        if not named.startswith("auto"):
            return named
        discovered = (task_vars.get("ansible_facts") or {}).get("discovered_interpreter_python")
        if discovered:
            return discovered
        discovered = discover_interpreter(action=self, interpreter_name="python", discovery_mode=named,
                                          task_vars=task_vars)
        facts["discovered_interpreter_python"] = discovered
        return discovered
