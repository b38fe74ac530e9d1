# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: fleet_report
type: aggregate
short_description: One line per host at the end of a run that trusts or probes the registry, and the same as files
version_added: 0.2.0
author:
  - dockyard maintainers (@dockyard)
description:
  - At the end of a run of C(playbooks/site.yml), C(playbooks/trust.yml), C(playbooks/probe.yml), or of any playbook
    that runs the dockyard.registry.registry_trust role or module or the dockyard.registry.registry_probe module,
    prints a table with one line per host, after the play recap. Other runs, and ad-hoc commands, print nothing.
  - "Each line says: the host's result (V(ok), V(changed), V(failed), V(unreachable), or V(not reached) where the run
    stopped before it), the container runtimes that trust the registry, the trust mode and how many files it rests
    on, whether the host is logged in to the registry, the probe's verdict, and the probe's remedy or, for a host
    that failed, the task that failed it and its message. Hosts to fix come last, and a summary line names them."
  - A host that fails any task of the run, also before the trust step (the preflight, say), or that cannot be
    reached, is listed with that task. The result of a task with C(no_log) stays censored.
  - When the variable C(registry_report_dir) (an extra variable, or an inventory variable of the hosts, such as a
    group variable of C(all)) names a directory on the controller, the report is also written there, as
    C(fleet-report.json) and C(fleet-report.md), replacing those of the run before; the directory is made if
    missing. Empty or undefined, the default, writes nothing.
  - The callback only reads what the run shows anyway, and prints once at the end; it adds no task to the run.
requirements:
  - Enabled in the Ansible configuration, as C(callbacks_enabled = dockyard.registry.fleet_report) in the
    C([defaults]) section of C(ansible.cfg) (the C(ansible.cfg) of the collection's repository does this), or with the environment
    variable C(ANSIBLE_CALLBACKS_ENABLED).
seealso:
  - module: dockyard.registry.registry_trust
  - module: dockyard.registry.registry_probe
"""

import datetime
import os

from ansible import constants as C
from ansible import context
from ansible.errors import AnsibleError
from ansible.playbook.block import Block
from ansible.playbook.role_include import IncludeRole
from ansible.plugins.callback import CallbackBase
from ansible.template import Templar

from ansible_collections.dockyard.registry.plugins.module_utils._files import replace
from ansible_collections.dockyard.registry.plugins.plugin_utils import _fleet_report as fleet

TRUST = "dockyard.registry.registry_trust"
PROBE = "dockyard.registry.registry_probe"
TRUST_ROLE = "dockyard.registry.registry_trust"
REPORT_DIR_VARIABLE = "registry_report_dir"
FILES = ("fleet-report.json", "fleet-report.md")
ADHOC = "__adhoc_playbook__"


def _action(task) -> str:
    return str(getattr(task, "_resolved_action", None) or getattr(task, "action", None) or "")


def _tasks(blocks):
    """Every task of ``blocks``, nested blocks included."""
    for block in blocks or []:
        for item in (getattr(block, "block", None) or []) + (getattr(block, "rescue", None) or []) + \
                (getattr(block, "always", None) or []):
            if isinstance(item, Block):
                yield from _tasks([item])
            else:
                yield item


def _reports_on(play) -> bool:
    """Whether ``play`` trusts or probes the registry: the registry_trust role or module, or the probe module."""
    if any(role.get_name() == TRUST_ROLE for role in play.get_roles()):
        return True
    blocks = play.pre_tasks + play.tasks + play.post_tasks
    for role in play.get_roles():
        blocks = blocks + role.get_task_blocks()
    for task in _tasks(blocks):
        if _action(task) in (TRUST, PROBE):
            return True
        if isinstance(task, IncludeRole) and getattr(task, "_role_name", None) == TRUST_ROLE:
            return True
    return False


def _host(result) -> str:
    return (getattr(result, "host", None) or result._host).get_name()


def _task(result):
    return getattr(result, "task", None) or result._task


def _data(result) -> dict:
    """The result's data, as every ansible-core since 2.17 passes it (a copy, made when first asked for)."""
    return result.result if hasattr(result, "result") else result._result


class CallbackModule(CallbackBase):
    """Collects what the run shows of each host and prints, and writes, the fleet report at the end."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "dockyard.registry.fleet_report"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None) -> None:
        super().__init__(display=display)
        self._playbooks = []
        self._report_plays = []
        self._play = None
        self._adhoc = False
        self._trust = {}
        self._probes = {}
        self._failures = {}
        self._order = {}  # host names in the order the run first showed them (a dict: a large fleet's lookups)

    # What the run is

    def v2_playbook_on_start(self, playbook) -> None:
        name = getattr(playbook, "_file_name", None) or ""
        if name == ADHOC:
            self._adhoc = True
            return
        relative = os.path.relpath(name) if name else name
        self._playbooks.append(name if relative.startswith("..") else relative)
        self._report_plays += [play for play in playbook.get_plays() if _reports_on(play)]

    def v2_playbook_on_play_start(self, play) -> None:
        self._play = play

    # What it shows of each host

    def _seen(self, host: str) -> None:
        self._order.setdefault(host, None)

    def _keep(self, result) -> None:
        """The result of a trust or probe task; the results of other tasks are not even looked at."""
        action = _action(_task(result))
        if action not in (TRUST, PROBE):
            return
        data, host = _data(result), _host(result)
        if data.get("censored"):
            return
        if action == TRUST and ("mode" in data or "runtimes" in data):  # not a result the module never returned
            self._seen(host)
            self._trust[host] = data
        elif action == PROBE:
            self._seen(host)
            items = data["results"] if isinstance(data.get("results"), list) else [data]
            self._probes[host] = [item for item in items if isinstance(item, dict) and item.get("status")]

    def v2_runner_on_ok(self, result) -> None:
        self._keep(result)

    def v2_runner_on_failed(self, result, ignore_errors=False) -> None:
        self._keep(result)
        if not ignore_errors:
            self._fail(result, unreachable=False)

    def v2_runner_on_unreachable(self, result) -> None:
        self._fail(result, unreachable=True)

    def _fail(self, result, unreachable: bool) -> None:
        host = _host(result)
        self._seen(host)
        self._failures[host] = {"play": self._play.get_name() if self._play else "",
                                "task": _task(result).get_name(include_role_fqcn=False),
                                "message": fleet.failure_message(_data(result)), "unreachable": unreachable}

    # The report

    def v2_playbook_on_stats(self, stats) -> None:
        """Sent at the end of each playbook of the command line: each gets a report of its own."""
        try:
            self._report(stats)
        finally:
            self._playbooks, self._report_plays, self._trust, self._probes, self._failures, self._order = \
                [], [], {}, {}, {}, {}

    def _report(self, stats) -> None:
        if self._adhoc or not (self._report_plays or self._trust or self._probes):
            return
        # A failure that a rescue caught, or that the stats do not count for another reason, failed nothing.
        failures = {host: failure for host, failure in self._failures.items()
                    if stats.summarize(host)["failures"] or stats.summarize(host)["unreachable"]}
        expected = self._expected_hosts()
        hosts = [host for host in dict.fromkeys([*self._order, *expected])
                 if host in self._trust or host in self._probes or host in failures or host in expected]
        if not hosts:
            return
        stopped = (f"the run stopped before it got here (failed: {', '.join(sorted(failures))})" if failures else
                   "its trust and probe tasks did not run (skipped, or left out by --tags)")
        entries = [fleet.host_entry(host, trust=self._trust.get(host), probes=self._probes.get(host),
                                    failure=failures.get(host), changed=bool(stats.summarize(host)["changed"]),
                                    not_reached=stopped) for host in hosts]
        finished = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        report = fleet.report(entries, playbooks=self._playbooks, finished=finished,
                              check_mode=bool(context.CLIARGS.get("check")))
        self._display.banner("FLEET REPORT")
        lines = fleet.table(report)
        self._display.display(lines[0])
        for entry, line in zip(report["hosts"], lines[1:-1]):
            color = C.COLOR_ERROR if entry["fix"] else C.COLOR_CHANGED if entry["result"] == "changed" else C.COLOR_OK
            self._display.display(line, color=color)
        self._display.display(lines[-1])
        self._write(report, hosts[0])

    def _expected_hosts(self) -> list:
        """The hosts of the plays that trust or probe the registry, as the inventory and --limit have them."""
        names = []
        for play in self._report_plays:
            inventory = getattr(play.get_variable_manager(), "_inventory", None)
            if inventory is None:
                continue
            pattern = play.hosts
            try:
                if "{{" in str(pattern):
                    templar = Templar(loader=play.get_loader(), variables=play.get_variable_manager().get_vars(play=play))
                    pattern = templar.template(pattern)
                # The restriction is the last batch of a serial play: the other batches' hosts count too.
                names += [host.get_name() for host in inventory.get_hosts(pattern, ignore_restrictions=True)]
            except AnsibleError as exc:  # a pattern that only the play's run can resolve: its hosts appear as they run
                self._display.vvv(f"fleet_report: the hosts of play {play.get_name()!r} are not known ({exc})")
        return list(dict.fromkeys(names))

    def _report_dir(self, host: str) -> str:
        """``registry_report_dir`` as the run has it (extra variables, else the inventory's for ``host``)."""
        play = self._play or (self._report_plays[0] if self._report_plays else None)
        manager = play.get_variable_manager() if play else None
        inventory = getattr(manager, "_inventory", None)
        if manager is None or inventory is None:
            return ""
        variables = manager.get_vars(play=play, host=inventory.get_host(host))
        value = variables.get(REPORT_DIR_VARIABLE) or ""
        value = Templar(loader=play.get_loader(), variables=variables).template(value)
        if not isinstance(value, str):
            raise TypeError(f"{REPORT_DIR_VARIABLE} must be a directory path or empty; got {value!r}")
        return os.path.expanduser(value.strip())

    def _write(self, report: dict, host: str) -> None:
        try:
            directory = self._report_dir(host)
        except (AnsibleError, TypeError) as exc:
            self._display.warning(f"The fleet report was not written: {REPORT_DIR_VARIABLE} could not be resolved ({exc}).")
            return
        if not directory:
            return
        try:
            os.makedirs(directory, exist_ok=True)
            for name, text in zip(FILES, (fleet.dumps(report), fleet.markdown(report))):
                # Whole or not at all, 0644: a reader never sees half a report.
                replace(os.path.join(directory, name), text.encode("utf-8"), 0o644)
        except OSError as exc:
            self._display.warning(f"The fleet report was not written to {directory}: {exc}.")
            return
        self._display.display(f"Fleet report written to {directory}: {', '.join(FILES)}")
