# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: a change of daemon.json, from merge to the daemon taking it in.

:class:`DaemonConfig` reads the file, merges settings into it (``_daemon_json``), refuses what the daemon would
refuse (keys its engine release does not know, ``_daemon_keys``), writes it atomically with a backup, and applies it
with the lightest action the changed keys allow on that release (``_docker_daemon``). Where the daemon refuses the new
file all the same (a failed reload, a restart that does not come back), the previous file is put back and the daemon
brought back on it. With ``keep_containers``, a restart keeps every running container: live-restore is turned on by a
reload first. The docker_daemon_config module and the registry_trust module use it.
"""

from __future__ import annotations

import os
import stat
import tempfile

from ansible_collections.dockyard.registry.plugins.module_utils._daemon_json import (
    changed_keys,
    flag_conflicts,
    merge,
    parse,
    render,
)
from ansible_collections.dockyard.registry.plugins.module_utils._daemon_keys import (
    DEFAULT_BRIDGE_KEYS,
    lightest_action,
    unknown_keys,
    version_text,
)
from ansible_collections.dockyard.registry.plugins.module_utils._docker_client import DaemonError, engine_version
from ansible_collections.dockyard.registry.plugins.module_utils._docker_daemon import DaemonProcess
from ansible_collections.dockyard.registry.plugins.module_utils._files import backup, install, redact, stage

LIVE_RESTORE = "live-restore"


class DaemonConfig:
    """One change of daemon.json. ``module`` gives check mode, warnings, backups, atomic moves and commands."""

    def __init__(self, module, path: str, settings: dict, state: str = "present", apply: str = "auto",
                 backup: bool = True, daemon: DaemonProcess | None = None, keep_containers: bool = False,
                 start: list[str] | None = None) -> None:
        self.module, self.path, self.settings, self.state = module, path, settings, state
        self.apply, self.backup, self.keep_containers = apply, backup, keep_containers
        self.daemon = daemon or DaemonProcess(module.run_command)
        self.start = start

    def run(self) -> dict:
        """Change the file and apply the change; then, with ``start``, start dockerd with those arguments where none
        runs (``daemon_action`` ``started``)."""
        result = self._change()
        if self.start is not None and not self.daemon.running:
            result.update(changed=True, daemon_action="started")
            if not self.module.check_mode:
                self.daemon.launch(self.start)
                result["pid_after"] = self.daemon.pid
        return result

    def _change(self) -> dict:
        before_text = self._read()
        before = parse(before_text, self.path)
        after = merge(before, self.settings, self.state)
        keys = changed_keys(before, after)
        self._warn_about_insecure_registries(after)
        pid = self.daemon.pid
        result = {"changed": bool(keys), "changed_keys": keys, "daemon_action": "none", "pid_before": pid,
                  "pid_after": pid}
        if not keys:
            return result
        info = self.daemon.info() if self.daemon.running and self.apply != "none" else {}
        version = engine_version(info) if info else self.daemon.binary_version()
        result["engine_version"] = version_text(version)
        self._check_keys(after, version)
        action = self._action(keys, version, [key for key in keys if key not in after])
        running = self.daemon.containers() if action != "none" else {}
        live_restore_first = False
        if action == "restart" and self.keep_containers:
            after = self._with_live_restore(after, info)
            keys = result["changed_keys"] = changed_keys(before, after)
            live_restore_first = bool(running) and not info.get("LiveRestoreEnabled")
        result.update(daemon_action=action, live_restore_first=live_restore_first)
        after_text = render(after)
        result["diff"] = {"before": redact(before_text), "after": redact(after_text), "before_header": self.path,
                          "after_header": self.path}
        self._check_flags(after)
        staged = self._stage(after_text)
        try:
            result["validated_with"] = self.daemon.validate(staged)
            if self.module.check_mode:
                return result
            if self.backup and os.path.exists(self.path):
                result["backup_file"] = backup(self.path, self.module)
            previous = before_text if os.path.exists(self.path) else None
            step = "reload"
            try:
                if live_restore_first:
                    # The running daemon must keep the containers when it stops: it reads live-restore at a reload.
                    # From then on, a roll-back keeps it on too, or the daemon would stop them as it starts again.
                    with_live_restore = render(merge(before, {LIVE_RESTORE: True}))
                    self._install(self._stage(with_live_restore))
                    self.daemon.reload()
                    previous = with_live_restore
                self._install(staged)
                step = action
                self._apply(action)
            except Exception as exc:  # noqa: BLE001 - whatever failed (an SDK error, a gone process): roll back
                self._roll_back(previous, keys, step, exc)
        finally:
            if os.path.exists(staged):
                os.unlink(staged)
        result["pid_after"] = self.daemon.pid
        result.update(self._containers_report(running, keys, action))
        return result

    def _read(self) -> str:
        try:
            with open(self.path, encoding="utf-8") as daemon_json:
                return daemon_json.read()
        except FileNotFoundError:
            return ""
        except (OSError, UnicodeDecodeError) as exc:
            raise DaemonError(f"{self.path} cannot be read: {exc}") from None

    def _check_keys(self, settings: dict, version: tuple) -> None:
        """Refuse a file with a key the engine's release does not know: the daemon would refuse to start with it."""
        unknown = unknown_keys(settings, version)
        if unknown:
            given = [key for key in unknown if key in self.settings]
            raise DaemonError(
                f"Docker {version_text(version)} does not know the daemon.json key{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(unknown)}: it would refuse to start with {'them' if len(unknown) > 1 else 'it'}. "
                + (f"Leave {', '.join(given)} out of the settings for this host, or upgrade its engine. " if given else
                   f"{self.path} holds {'them' if len(unknown) > 1 else 'it'} already: remove "
                   f"{'them' if len(unknown) > 1 else 'it'} by hand. ") + "Nothing was changed.")

    def _action(self, keys: list[str], version: tuple, removed: list[str]) -> str:
        if not self.daemon.running or self.apply == "none":
            return "none"
        needed = lightest_action(keys, version, removed)
        if self.apply == "reload" and needed == "restart":
            self.module.warn(f"apply=reload: {', '.join(keys)} take effect only at the daemon's next restart")
        return needed if self.apply == "auto" else self.apply

    def _with_live_restore(self, settings: dict, info: dict) -> dict:
        """The settings with live-restore on, which a restart that keeps the containers needs before and after."""
        if (info.get("Swarm") or {}).get("LocalNodeState") == "active":
            raise DaemonError("keep_containers needs live-restore, which Docker does not allow in swarm mode, and this "
                              "daemon is a swarm node: apply the change without keep_containers (draining the node "
                              "first), or leave the swarm. Nothing was changed.")
        if LIVE_RESTORE in self.settings and (self.state == "absent" or self.settings[LIVE_RESTORE] is not True):
            raise DaemonError("keep_containers needs live-restore, which the settings turn off: leave live-restore out "
                              "of them, or apply without keep_containers. Nothing was changed.")
        return {**settings, LIVE_RESTORE: True}

    def _warn_about_insecure_registries(self, settings: dict) -> None:
        added = [entry for entry in settings.get("insecure-registries", [])
                 if entry in (self.settings.get("insecure-registries") or [])]
        if added and self.state == "present":
            self.module.warn(
                f"insecure-registries lists {', '.join(added)}: Docker does not verify TLS for them (or talks plain "
                "HTTP), which fails CIS Docker Benchmark 2.5. Engines that use the containerd image store (the default "
                "from Docker 29) are reported to ignore insecure-registries; prefer the registry's CA in certs.d.")

    def _check_flags(self, settings: dict) -> None:
        """Refuse a file with a directive the daemon also gets as a flag: it would refuse to start, or to reload."""
        argv = (self.daemon.argv() if self.daemon.running else ["dockerd"]) + self.daemon.unit_argv()[1:]
        conflicts = flag_conflicts(settings, argv)
        if conflicts:
            named = "; ".join(f"{key} (the daemon runs with {flag})" for key, flag in conflicts)
            raise DaemonError(
                f"{self.path} would set what the running daemon already gets as a command-line flag: {named}. "
                "dockerd refuses to start with a directive given both ways: drop the flag from its command line "
                "(or systemd unit), or leave the key out of the settings. Nothing was changed.")

    def _stage(self, text: str) -> str:
        """A temporary file with the new content, beside the real one so that installing it is a rename.

        It has the mode and owner of the file it replaces already (0644 and root for a new one), so that the file is
        at no moment more open than that (a daemon.json may hold a proxy's password).
        """
        directory = os.path.dirname(self.path) or "."
        if not self.module.check_mode:
            os.makedirs(directory, mode=0o755, exist_ok=True)
        try:
            current = os.stat(self.path)
            mode, uid, gid = stat.S_IMODE(current.st_mode), current.st_uid, current.st_gid
        except FileNotFoundError:
            mode, uid, gid = 0o644, 0, 0
        # In check mode the directory may not exist yet: stage elsewhere, nothing is installed anyway.
        return stage(self.path, text.encode("utf-8"), mode, uid, gid,
                     directory=directory if os.path.isdir(directory) else tempfile.gettempdir())

    def _install(self, staged: str) -> None:
        install(staged, self.path, self.module)

    def _apply(self, action: str) -> None:
        if action == "reload":
            self.daemon.reload()
        elif action == "restart":
            self.daemon.restart()

    def _roll_back(self, previous: str | None, keys: list[str], step: str, error: Exception) -> None:
        """Put the previous file back (or none, as before) and bring the daemon back on it; then fail, saying why."""
        if previous is None:
            if os.path.lexists(self.path):
                os.unlink(self.path)
        else:
            self._install(self._stage(previous))
        try:
            self.daemon.pid = self.daemon.find_pid()
            if not self.daemon.running:  # a restart that did not come back
                self.daemon.start()
            elif step == "reload":  # a reload it refused: it runs on, and reads the previous file again
                self.daemon.reload()
            else:  # it came back on the new file, but broken: it starts again on the previous one
                self.daemon.restart()
            outcome = f"The previous {self.path} is back in place, and the daemon runs on it (pid {self.daemon.pid})"
        except Exception as again:  # noqa: BLE001 - the daemon's state is reported, the first error raised
            outcome = (f"The previous {self.path} is back in place, but the daemon did not come back on it either: "
                       f"{_described(again)}. Start it by hand")
        if previous is not None and parse(previous).get(LIVE_RESTORE) is True and self.keep_containers:
            outcome += ", with live-restore on, which keeps the containers through the daemon's restarts"
        raise DaemonError(f"the daemon did not take the new {self.path} (changing {', '.join(keys)}): "
                          f"{_described(error)}. {outcome}.") from error

    def _containers_report(self, before: dict, keys: list[str], action: str) -> dict:
        """Whether every container that ran before runs on with the same process; fails with keep_containers if not."""
        if action == "none":
            return {}
        now = self.daemon.containers() if before else {}
        lost = sorted(name for name, container in before.items()
                      if (now.get(name) or {}).get("pid") != container["pid"]
                      or now[name]["started_at"] != container["started_at"])
        report = {"containers_kept": not lost, "containers": {"running_before": sorted(before), "lost": lost}}
        kept = [name for name in before if name not in lost]
        deferred = sorted(DEFAULT_BRIDGE_KEYS.intersection(keys)) if action == "restart" and kept else []
        if deferred:
            report["deferred_keys"] = deferred
            self.module.warn(f"{', '.join(deferred)}: the default bridge network keeps its settings while containers "
                             "run through a restart (live-restore); the new ones take effect once the daemon starts "
                             "with no container running")
        if lost and self.keep_containers:
            raise DaemonError(f"the daemon took the new {self.path} ({action}), but these containers no longer run with "
                              f"the process they had: {', '.join(lost)}")
        return report


def _described(error: Exception) -> str:
    """The collection's own errors say what happened; any other is named by its type too."""
    return str(error) if isinstance(error, DaemonError) else f"{type(error).__name__}: {error}"
