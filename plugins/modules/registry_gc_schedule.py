# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_gc_schedule
short_description: Run the registry's garbage collection on a schedule, on the registry host itself
version_added: 0.3.0
description:
  - Installs a job that collects the registry's garbage on the registry host, with no controller, run by a systemd timer
    where systemd is the service manager, else a file in C(/etc/cron.d) and the cron daemon (started detached and kept
    running by a small supervisor where nothing runs cron, as the collection runs its other daemons).
  - "Each run does what the C(gc) entry point of the registry_server role does on one host with its storage on disk:
    the registry goes read-only (O(readonly_config) in place of its configuration, the container restarted and waited
    for with its own health check), C(registry garbage-collect) runs as a dry run whose deletions are checked against
    what every tag needs, then for real, and the registry returns to its own configuration, also when the collection
    fails. Pulls are served throughout, but for the two restarts."
  - Each run writes the record of the last collection to O(record), as the C(gc) entry point does (see
    M(dockyard.registry.registry_metrics), O(dockyard.registry.registry_metrics#module:gc_run)), and appends one JSON
    line with its times, success, the digests it deleted and the bytes it freed, or its error, to O(log).
  - With O(retention_rules), each run first deletes by digest the tags no rule keeps, as
    M(dockyard.registry.registry_retention) does, through the registry's API while the registry is still writable (its
    deletes need it), and only then goes read-only and collects, which frees what the deletes left. The run's record
    and JSON line carry what retention deleted beside the collection's figures; a run whose retention fails records
    its failure and does not collect.
  - The job holds no push account's password. It speaks plain HTTP to the registry container where it is published on
    the host's loopback (O(loopback_port)), behind the authenticating proxy, with the proxy's internal account
    (O(internal_username), O(internal_password)), the only account that registry knows. That credential is on the host
    already, in the proxy's configuration; the module keeps a copy for the job in C(<state_dir>/registry-account)
    (root, 0600). Root on the registry host owns the storage anyway.
  - The job is the collection's own code (the module_utils it needs), installed under O(state_dir) with the module.
  - An empty O(schedule) removes the job, and stops the cron daemon the module started.
author:
  - dockyard maintainers (@dockyard)
extends_documentation_fragment:
  - dockyard.registry._attributes
  - dockyard.registry._service
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - O(readonly_config) and the registry account file are redacted in the diff (they hold the registry's http secret
        and the proxy's internal password).
  idempotent:
    support: full
options:
  schedule:
    description:
      - When the job runs. Cron's five fields (V(30 3 * * 0)) or one of its nicknames (V(@daily)), which either
        scheduler takes (converted to an OnCalendar expression for a systemd timer), or a systemd OnCalendar
        expression (V(Sun *-*-* 03:30:00)), which only a systemd timer takes.
      - Empty removes the job.
    type: str
    default: ""
  name:
    description: The name of the timer and its service, or of the file in C(/etc/cron.d).
    type: str
    default: dockyard-registry-gc
  container:
    description: The registry's container.
    type: str
    default: dockyard-registry
  config:
    description: The registry's configuration file on the host, which the container mounts.
    type: path
    default: /etc/dockyard/registry/config.yml
  container_config:
    description: Where the container mounts O(config).
    type: str
    default: /etc/docker/registry/config.yml
  readonly_config:
    description:
      - The registry's configuration with C(storage.maintenance.readonly) enabled, as the registry_server role renders
        it, put in place of O(config) while the job collects. Required with O(schedule).
    type: str
  data_dir:
    description: The registry's storage on the host (the filesystem driver's root directory).
    type: path
    default: /var/lib/dockyard/registry
  record:
    description: The record of the last collection, a C(*.prom) file for node_exporter's textfile collector.
    type: path
    default: /var/lib/prometheus/node-exporter/dockyard-registry-gc.prom
  labels:
    description: Labels of the record's samples.
    type: dict
    default: {}
  timeout:
    description: Seconds each garbage-collect pass may take.
    type: int
    default: 3600
  ready_timeout:
    description: Seconds the registry may take to answer its health check after each restart.
    type: int
    default: 120
  state_dir:
    description: Where the job, its code, settings and the read-only configuration are kept (0700).
    type: path
    default: /var/lib/dockyard/registry-gc
  log:
    description: The job's log, one JSON line a run.
    type: path
    default: /var/log/dockyard/registry-gc.log
  retention_rules:
    description:
      - Retention rules each run applies before it collects, as M(dockyard.registry.registry_retention) takes them
        (O(dockyard.registry.registry_retention#module:rules)). Each repository follows the first rule whose
        O(retention_rules[].repository) glob matches it; what no rule keeps is deleted by digest.
      - Checked before anything changes; a wrong rule fails naming it.
      - Empty (the default) applies no retention.
    type: list
    elements: dict
    default: []
    suboptions:
      repository:
        description: The repositories the rule applies to, a shell-style glob such as V(team-a/*).
        type: str
        required: true
      keep_newest:
        description: Keep the tags of this many newest images (by their config's C(created) time).
        type: int
      keep_tags:
        description: Keep the tags that one of these Python regular expressions matches as a whole.
        type: list
        elements: str
      keep_days:
        description: Keep the tags of images created fewer than this many days ago.
        type: int
  loopback_port:
    description:
      - The port of the host's loopback (C(127.0.0.1)) where the registry container is published, plain HTTP behind the
        authenticating proxy; the job applies O(retention_rules) there.
    type: int
    default: 15000
  internal_username:
    description:
      - The proxy's internal account, which the registry on O(loopback_port) asks for. Used with O(retention_rules).
    type: str
    default: dockyard-proxy
  internal_password:
    description: The internal account's password. Required with O(retention_rules).
    type: str
notes:
  - Only for a registry whose storage is on the host's disk and that is the only replica of its storage; replicas of a
    shared store are collected together by the C(gc) entry point (C(playbooks/gc.yml)) from the controller.
  - A run of C(playbooks/gc.yml) and a scheduled run must not overlap; scheduled runs take a lock among themselves.
seealso:
  - module: dockyard.registry.registry_metrics
  - module: dockyard.registry.registry_gc_guard
"""

EXAMPLES = r"""
- name: Collect the registry's garbage every Sunday at 03:30
  dockyard.registry.registry_gc_schedule:
    schedule: 30 3 * * 0
    readonly_config: "{{ lookup('ansible.builtin.template', 'config.yml.j2', template_vars={'registry_server_readonly': true}) }}"
    record: /var/lib/prometheus/node-exporter/dockyard-registry-gc.prom
    labels:
      registry: dockyard-registry

- name: Every night, delete the builds no rule keeps, then collect the garbage
  dockyard.registry.registry_gc_schedule:
    schedule: 0 2 * * *
    readonly_config: "{{ lookup('ansible.builtin.template', 'config.yml.j2', template_vars={'registry_server_readonly': true}) }}"
    retention_rules:
      - repository: team-a/*
        keep_tags: ['latest', 'v\d+\.\d+\.\d+']
        keep_newest: 5
    loopback_port: 15000
    internal_password: "{{ registry_internal_password }}"

- name: Remove the schedule
  dockyard.registry.registry_gc_schedule:
    schedule: ""
"""

RETURN = r"""
scheduler:
  description: What runs the job, V(systemd) (a timer) or V(cron); V(none) where no schedule is set.
  returned: always
  type: str
  sample: cron
when:
  description: What the scheduler was given, cron's five fields or an OnCalendar expression; empty without a schedule.
  returned: always
  type: str
  sample: Sun *-*-* 3:30:00
launcher:
  description: The command the scheduler runs (run it by hand for a collection now).
  returned: always
  type: str
  sample: /var/lib/dockyard/registry-gc/run
missing_program:
  description:
    - V(cron) where the host needs cron (systemd is not its service manager) and has none; nothing was changed. Install
      it (Debian's package C(cron)) and run the module again.
  returned: when cron is missing
  type: str
  sample: cron
"""

import ast
import inspect
import json
import os
import shutil
import sys

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.registry.plugins.module_utils import _gc_job
from ansible_collections.dockyard.registry.plugins.module_utils._files import Files
from ansible_collections.dockyard.registry.plugins.module_utils._registry.retention import (
    RULE_OPTIONS,
    RetentionRuleError,
    parse_rules,
)
from ansible_collections.dockyard.registry.plugins.module_utils._schedule import ScheduleError, parse
from ansible_collections.dockyard.registry.plugins.module_utils._service import (
    SERVICE_MANAGER_OPTION,
    Service,
    ServiceError,
    alive,
    process_name,
    read_pid,
    systemd_runs,
)

PACKAGE = "ansible_collections.dockyard.registry.plugins.module_utils"
CRON_PID = "/run/crond.pid"
CRON_SERVICE = "dockyard-cron"
CRON_STATE_DIR = "/var/lib/dockyard/cron"

_LAUNCHER = """#!{python}
# Written by the dockyard.registry collection: a scheduled garbage collection of the registry {container}.
import sys

sys.path.insert(0, {lib!r})
from {package}._gc_job import main

raise SystemExit(main([{settings!r}]))
"""

_SERVICE_UNIT = """# Written by the dockyard.registry collection.
[Unit]
Description=Garbage collection of the registry {container} (dockyard.registry)
After=docker.service

[Service]
Type=oneshot
ExecStart={launcher}
StandardOutput=append:{log}
StandardError=append:{log}
"""

_TIMER_UNIT = """# Written by the dockyard.registry collection.
[Unit]
Description=Scheduled garbage collection of the registry {container} (dockyard.registry)

[Timer]
OnCalendar={calendar}
Persistent=true

[Install]
WantedBy=timers.target
"""

_CRON_FILE = """# Written by the dockyard.registry collection: garbage collection of the registry {container}.
SHELL=/bin/sh
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
{cron} root {launcher} >>{log} 2>&1
"""


def job_sources() -> dict[str, str]:
    """The source of :mod:`._gc_job` and of each module of the collection's module_utils it imports (at any depth),
    by path under the collection's ``plugins/module_utils``: what the job runs with, the code this module carries."""
    found: dict[str, str] = {}
    pending = [_gc_job.__name__]
    while pending:
        name = pending.pop()
        if name in found:
            continue
        module = sys.modules.get(name) or __import__(name, fromlist=["_"])
        try:
            source = inspect.getsource(module)
        except OSError:  # an empty file (a package's __init__.py imported from, such as _registry's)
            source = module.__loader__.get_source(name) or ""
        found[name] = source
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PACKAGE):
                if node.module != PACKAGE:  # module_utils itself is a namespace package, with no source
                    pending.append(node.module)
                # "from ...module_utils import _x" imports a module, not a name.
                pending.extend(f"{node.module}.{alias.name}" for alias in node.names
                               if f"{node.module}.{alias.name}" in sys.modules)
    # The packages between (their __init__.py), so that the job imports them as the module did.
    for name in list(found):
        parts = name[len(PACKAGE) + 1:].split(".")[:-1]
        for depth in range(1, len(parts) + 1):
            package = ".".join([PACKAGE, *parts[:depth]])
            if package not in found and package in sys.modules:
                found[package] = sys.modules[package].__loader__.get_source(package) or ""
    paths = {}
    for name, source in found.items():
        module = sys.modules[name]
        relative = name[len(PACKAGE) + 1:].replace(".", "/")
        is_package = os.path.basename(getattr(module, "__file__", "") or "") == "__init__.py"
        paths[f"{relative}/__init__.py" if is_package else f"{relative}.py"] = source
    return dict(sorted(paths.items()))


class GcSchedule:
    def __init__(self, module: AnsibleModule) -> None:
        self.module, self.params = module, module.params
        self.files = Files(module)
        state_dir = self.params["state_dir"]
        self.lib = os.path.join(state_dir, "lib")
        self.settings_path = os.path.join(state_dir, "settings.json")
        self.readonly_path = os.path.join(state_dir, "config-readonly.yml")
        self.account_path = os.path.join(state_dir, "registry-account")
        self.launcher = os.path.join(state_dir, "run")
        name = self.params["name"]
        self.service_unit = f"/etc/systemd/system/{name}.service"
        self.timer_unit = f"/etc/systemd/system/{name}.timer"
        self.cron_file = f"/etc/cron.d/{name}"
        manager = self.params["service_manager"]
        self.systemd = systemd_runs() if manager == "auto" else manager == "systemd"

    def run(self) -> dict:
        schedule_text = self.params["schedule"].strip()
        if not schedule_text:
            self.absent()
            return {"scheduler": "none", "when": "", "launcher": ""}
        # Everything is checked before anything changes.
        try:
            schedule = parse(schedule_text)
        except ScheduleError as exc:
            self.module.fail_json(msg=f"schedule: {exc}")
        if not self.params["readonly_config"]:
            self.module.fail_json(msg="readonly_config is required with a schedule: the registry's configuration "
                                      "with storage.maintenance.readonly enabled")
        self.check_retention()
        if self.systemd:
            self.check_calendar(schedule)
        else:
            if schedule.cron is None:
                self.module.fail_json(msg=f"schedule: {schedule.text!r} is an OnCalendar expression, which only a "
                                          "systemd timer takes, and systemd is not the service manager of this host: "
                                          "give cron's five fields, such as '30 3 * * 0'")
            if shutil.which("cron") is None:
                # The role installs the package and runs the module again.
                return {"scheduler": "cron", "when": schedule.cron, "launcher": self.launcher,
                        "missing_program": "cron"}
        self.install_job()
        if self.systemd:
            return self.timer(schedule)
        return self.cron(schedule)

    def check_calendar(self, schedule) -> None:
        if schedule.calendar is None:
            self.module.fail_json(msg=f"schedule: {schedule.text!r}: {schedule.calendar_error}")
        rc, out, err = self.module.run_command(["systemd-analyze", "calendar", schedule.calendar])
        if rc != 0:
            self.module.fail_json(msg=f"schedule: {schedule.text!r} is not an OnCalendar expression systemd takes: "
                                      f"{(out + err).strip()}")

    def check_retention(self) -> None:
        rules = self.params["retention_rules"]
        if not rules:
            return
        try:
            parse_rules(rules)
        except RetentionRuleError as exc:
            self.module.fail_json(msg=f"retention_{exc}")
        if not self.params["internal_password"] or not self.params["internal_username"]:
            self.module.fail_json(msg="internal_password and internal_username are required with retention_rules: the "
                                      "proxy's internal account, which the registry on the loopback port asks for")
        if not 1 <= self.params["loopback_port"] <= 65535:
            self.module.fail_json(msg=f"loopback_port must be from 1 to 65535, not {self.params['loopback_port']}")

    # --- the job ---

    def install_job(self) -> None:
        params = self.params
        self.files.directory(params["state_dir"], 0o700)
        self.files.directory(os.path.dirname(params["log"]), 0o755)
        for relative, source in job_sources().items():
            self.files.file(os.path.join(self.lib, PACKAGE.replace(".", "/"), relative), source.encode(), 0o644)
        settings = {
            "container": params["container"], "config": params["config"], "container_config": params["container_config"],
            "readonly_config": self.readonly_path, "saved_config": os.path.join(params["state_dir"], "config-saved.yml"),
            "data_dir": params["data_dir"], "record": params["record"], "labels": params["labels"],
            "timeout": params["timeout"], "ready_timeout": params["ready_timeout"],
            "lock": os.path.join(params["state_dir"], "lock"),
            # Retention before the collection: the registry container on loopback, with the proxy's internal account.
            "retention": {"rules": params["retention_rules"], "registry": f"127.0.0.1:{params['loopback_port']}",
                          "account": self.account_path} if params["retention_rules"] else None,
        }
        self.files.file(self.settings_path, (json.dumps(settings, indent=2, sort_keys=True) + "\n").encode(), 0o600)
        self.files.file(self.readonly_path, params["readonly_config"].encode(), 0o600, secret=True)
        if params["retention_rules"]:
            account = f"{params['internal_username']}:{params['internal_password']}\n"
            self.files.file(self.account_path, account.encode(), 0o600, secret=True)
        else:
            self.files.absent(self.account_path, secret=True)
        launcher = _LAUNCHER.format(python=sys.executable, container=params["container"], lib=self.lib,
                                    package=PACKAGE, settings=self.settings_path)
        self.files.file(self.launcher, launcher.encode(), 0o700)

    def job_paths(self) -> list[str]:
        """Every file the job consists of, for its removal."""
        paths = [self.settings_path, self.readonly_path, self.account_path, self.launcher,
                 os.path.join(self.params["state_dir"], "lock")]
        for directory, _subdirectories, names in os.walk(self.lib):
            paths.extend(os.path.join(directory, name) for name in names)
        return paths

    # --- the schedulers ---

    def timer(self, schedule) -> dict:
        changed = self.files.file(self.service_unit, _SERVICE_UNIT.format(
            container=self.params["container"], launcher=self.launcher, log=self.params["log"]).encode(), 0o644)
        changed |= self.files.file(self.timer_unit, _TIMER_UNIT.format(
            container=self.params["container"], calendar=schedule.calendar).encode(), 0o644)
        timer = os.path.basename(self.timer_unit)
        enabled = self.module.run_command(["systemctl", "is-enabled", "--quiet", timer])[0] == 0
        active = self.module.run_command(["systemctl", "is-active", "--quiet", timer])[0] == 0
        if changed or not (enabled and active):
            self.files.pending(f"timer {timer}", "enabled and (re)started")
            if not self.module.check_mode:
                self._run(["systemctl", "daemon-reload"])
                self._run(["systemctl", "enable", timer])
                self._run(["systemctl", "restart", timer])
        return {"scheduler": "systemd", "when": schedule.calendar, "launcher": self.launcher}

    def cron(self, schedule) -> dict:
        cron = shutil.which("cron")
        self.files.file(self.cron_file, _CRON_FILE.format(
            container=self.params["container"], cron=schedule.cron, launcher=self.launcher,
            log=self.params["log"]).encode(), 0o644)
        service = self.cron_service(cron)
        other_cron = not service.running() and self.cron_runs()
        if not other_cron:
            try:
                service.ensure(False, lambda: None if self.cron_runs() else f"cron's pid file {CRON_PID}")
            except ServiceError as exc:
                self.module.fail_json(msg=str(exc), diff=self.files.diffs)
        return {"scheduler": "cron", "when": schedule.cron, "launcher": self.launcher}

    def cron_service(self, cron: str | None = None) -> Service:
        return Service(self.files, self.module.run_command, CRON_SERVICE, [cron or "cron", "-f"],
                       description="cron, which runs the registry's scheduled garbage collection",
                       log="/var/log/dockyard/cron.log", state_dir=CRON_STATE_DIR, manager="direct")

    @staticmethod
    def cron_runs() -> bool:
        pid = read_pid(CRON_PID)
        return pid is not None and alive(pid) and process_name(pid) == "cron"

    def absent(self) -> None:
        if os.path.exists(self.timer_unit) or os.path.exists(self.service_unit):
            timer = os.path.basename(self.timer_unit)
            self.files.pending(f"timer {timer}", "stopped and disabled")
            if not self.module.check_mode:
                self.module.run_command(["systemctl", "disable", "--now", timer])
            self.files.absent(self.timer_unit)
            self.files.absent(self.service_unit)
            if not self.module.check_mode:
                self._run(["systemctl", "daemon-reload"])
        self.files.absent(self.cron_file)
        service = self.cron_service()
        if service.running():
            self.files.pending(f"service {CRON_SERVICE}", "stopped")
            if not self.module.check_mode:
                service.stop()
        self.files.absent(service.script)
        self.files.empty_directory_absent(CRON_STATE_DIR)
        for path in self.job_paths():
            self.files.absent(path, secret=path in (self.readonly_path, self.account_path))
        for directory, _subdirectories, _names in sorted(os.walk(self.lib), reverse=True):
            self.files.empty_directory_absent(directory)
        self.files.empty_directory_absent(self.params["state_dir"])

    def _run(self, command: list[str]) -> None:
        rc, out, err = self.module.run_command(command)
        if rc != 0:
            self.module.fail_json(msg=f"{' '.join(command)} failed: {(out + err).strip()}", diff=self.files.diffs)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "schedule": {"type": "str", "default": ""},
            "name": {"type": "str", "default": "dockyard-registry-gc"},
            "container": {"type": "str", "default": "dockyard-registry"},
            "config": {"type": "path", "default": "/etc/dockyard/registry/config.yml"},
            "container_config": {"type": "str", "default": "/etc/docker/registry/config.yml"},
            "readonly_config": {"type": "str", "no_log": True},
            "data_dir": {"type": "path", "default": "/var/lib/dockyard/registry"},
            "record": {"type": "path", "default": "/var/lib/prometheus/node-exporter/dockyard-registry-gc.prom"},
            "labels": {"type": "dict", "default": {}},
            "timeout": {"type": "int", "default": 3600},
            "ready_timeout": {"type": "int", "default": 120},
            "state_dir": {"type": "path", "default": "/var/lib/dockyard/registry-gc"},
            "log": {"type": "path", "default": "/var/log/dockyard/registry-gc.log"},
            "retention_rules": {"type": "list", "elements": "dict", "default": [], "options": RULE_OPTIONS},
            "loopback_port": {"type": "int", "default": 15000},
            "internal_username": {"type": "str", "default": "dockyard-proxy"},
            "internal_password": {"type": "str", "no_log": True},
            "service_manager": SERVICE_MANAGER_OPTION,
        },
        supports_check_mode=True,
    )
    schedule = GcSchedule(module)
    result = schedule.run()
    result["changed"] = schedule.files.changed
    if module._diff:
        result["diff"] = schedule.files.diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
