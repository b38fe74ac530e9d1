# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: a scheduled garbage collection installed on the registry host, the
registry_gc_schedule module's work.

The job (:mod:`._gc_job` with the collection's code it imports, its settings, the read-only configuration, the
registry account for retention, and a launcher) under the module's state_dir, and what runs it: a systemd timer where
systemd is the service manager, else a file in /etc/cron.d and cron, kept running by :class:`._service.Service` where
nothing runs it. An empty schedule removes all of it. Everything is checked before anything changes.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import shutil
import sys
import typing as t

from ansible_collections.dockyard.registry.plugins.module_utils._files import Files
from ansible_collections.dockyard.registry.plugins.module_utils._registry.retention_rules import (
    RetentionRuleError,
    parse_rules,
)
from ansible_collections.dockyard.registry.plugins.module_utils._schedule import ScheduleError, parse
from ansible_collections.dockyard.registry.plugins.module_utils._service import (
    Service,
    ServiceError,
    alive,
    process_name,
    read_pid,
    systemd_runs,
)

PACKAGE = "ansible_collections.dockyard.registry.plugins.module_utils"
JOB = f"{PACKAGE}._gc_job"

if t.TYPE_CHECKING:
    # Never run here, yet packed with the module (AnsiballZ follows every import it finds): job_sources reads the job's
    # code from the module's payload and installs it for the scheduler to run.
    from ansible_collections.dockyard.registry.plugins.module_utils import _gc_job  # noqa: F401

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
    by path under the collection's ``plugins/module_utils``: what the job runs with, the code this module carries.

    Read from the module's own payload without running any of it: the job's imports (the Docker SDK among them) are
    the job's to pay, not every run of this module's.
    """
    specs: dict[str, t.Any] = {}  # each name looked up once: most are imported by several of the job's modules

    def spec(name: str):
        if name not in specs:
            specs[name] = importlib.util.find_spec(name)
        return specs[name]

    def is_package(name: str) -> bool:
        return spec(name) is not None and spec(name).submodule_search_locations is not None

    found: dict[str, str] = {}
    pending = [JOB]
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found[name] = _source(spec(name), name)
        for node in ast.walk(ast.parse(found[name])):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PACKAGE):
                if node.module != PACKAGE:  # module_utils itself is a namespace package, with no source
                    pending.append(node.module)
                # "from ...module_utils import _x" imports a module, not a name: only a package has modules (and
                # looking a name up inside a module would run that module).
                if is_package(node.module):
                    pending.extend(f"{node.module}.{alias.name}" for alias in node.names
                                   if spec(f"{node.module}.{alias.name}") is not None)
    # The packages between (their __init__.py), so that the job imports them as the module did.
    for name in list(found):
        parts = name[len(PACKAGE) + 1:].split(".")[:-1]
        for depth in range(1, len(parts) + 1):
            package = ".".join([PACKAGE, *parts[:depth]])
            if package not in found:
                found[package] = _source(spec(package), package)
    paths = {}
    for name, source in found.items():
        relative = name[len(PACKAGE) + 1:].replace(".", "/")
        paths[f"{relative}/__init__.py" if is_package(name) else f"{relative}.py"] = source
    return dict(sorted(paths.items()))


def _source(spec, name: str) -> str:
    """The source of the module ``name`` (found as ``spec``), read by its loader without running it."""
    source = spec.loader.get_source(name) or ""
    # Ansible's collection loader (on the controller) gives bytes where the import protocol says str.
    return source.decode() if isinstance(source, bytes) else source


class GcSchedule:
    """One run of the module registry_gc_schedule: the job and its scheduler installed, or removed."""

    def __init__(self, module) -> None:
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

    def result(self) -> dict:
        """The module's result: what :meth:`run` reports, whether anything changed, and the diff where asked."""
        result = self.run()
        result["changed"] = self.files.changed
        if self.module._diff:
            result["diff"] = self.files.diffs
        return result

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
