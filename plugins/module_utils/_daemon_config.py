# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: a change of daemon.json, from merge to the daemon taking it in.

:class:`DaemonConfig` reads the file, merges settings into it (``_daemon_json``), refuses what the daemon would
refuse, writes it atomically with a backup, and applies it with the lightest action the changed keys allow
(``_docker_daemon``). The docker_daemon_config module and the registry_trust module's insecure fallback use it.
"""

from __future__ import annotations

import os
import tempfile

from ansible_collections.dockyard.registry.plugins.module_utils._daemon_json import (
    changed_keys,
    flag_conflicts,
    merge,
    parse,
    render,
)
from ansible_collections.dockyard.registry.plugins.module_utils._docker_daemon import (
    DaemonError,
    DaemonProcess,
    lightest_action,
)


class DaemonConfig:
    """One change of daemon.json. ``module`` gives check mode, warnings, backups, atomic moves and commands."""

    def __init__(self, module, path: str, settings: dict, state: str = "present", apply: str = "auto",
                 backup: bool = True, daemon: DaemonProcess | None = None) -> None:
        self.module, self.path, self.settings, self.state = module, path, settings, state
        self.apply, self.backup = apply, backup
        self.daemon = daemon or DaemonProcess(module.run_command)

    def run(self) -> dict:
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
        after_text = render(after)
        result["diff"] = {"before": before_text, "after": after_text, "before_header": self.path,
                          "after_header": self.path}
        result["daemon_action"] = self._action(keys)
        self._check_flags(after)
        staged = self._stage(after_text)
        try:
            result["validated_with"] = self.daemon.validate(staged)
            if self.module.check_mode:
                return result
            if self.backup and os.path.exists(self.path):
                result["backup_file"] = self.module.backup_local(self.path)
            self._install(staged)
        finally:
            if os.path.exists(staged):
                os.unlink(staged)
        self._apply(result["daemon_action"])
        result["pid_after"] = self.daemon.pid
        return result

    def _read(self) -> str:
        try:
            with open(self.path, encoding="utf-8") as daemon_json:
                return daemon_json.read()
        except FileNotFoundError:
            return ""
        except (OSError, UnicodeDecodeError) as exc:
            raise DaemonError(f"{self.path} cannot be read: {exc}") from None

    def _action(self, keys: list[str]) -> str:
        if not self.daemon.running or self.apply == "none":
            return "none"
        needed = lightest_action(keys)
        if self.apply == "reload" and needed == "restart":
            self.module.warn(f"apply=reload: {', '.join(keys)} take effect only at the daemon's next restart")
        return needed if self.apply == "auto" else self.apply

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
        """A temporary file with the new content, beside the real one so that installing it is a rename."""
        directory = os.path.dirname(self.path) or "."
        if not self.module.check_mode:
            os.makedirs(directory, mode=0o755, exist_ok=True)
        # In check mode the directory may not exist yet: stage elsewhere, nothing is installed anyway.
        handle, path = tempfile.mkstemp(prefix=".daemon.json.", dir=directory if os.path.isdir(directory) else None)
        with os.fdopen(handle, "w", encoding="utf-8") as staged:
            staged.write(text)
        return path

    def _install(self, staged: str) -> None:
        os.chmod(staged, 0o644)
        if os.geteuid() == 0:
            os.chown(staged, 0, 0)
        self.module.atomic_move(staged, self.path)

    def _apply(self, action: str) -> None:
        if action == "reload":
            self.daemon.reload()
        elif action == "restart":
            self.daemon.restart()
