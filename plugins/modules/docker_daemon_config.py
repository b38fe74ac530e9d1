# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: docker_daemon_config
short_description: Merge settings into Docker's daemon.json and apply them with the lightest action
version_added: 0.1.0
description:
  - Merges the keys of O(settings) into C(daemon.json) and keeps every other key as it was, so that runtimes, log
    settings and mirrors that others put there survive. List keys such as C(insecure-registries) and
    C(registry-mirrors) are sets, whose entries are added, or with O(state=absent) removed.
  - Refuses, changing nothing, a file that is not valid JSON (naming the line and column of the error), and a
    configuration the daemon would refuse to start with. Engines 23.0 and later check it themselves with
    C(dockerd --validate); on older engines the module checks the JSON and that no key is also given to the
    running daemon as a command-line flag (from its command line and its systemd unit).
  - Writes atomically, root-owned, mode 0644, with a backup of the previous file.
  - Applies a change with the lightest action that takes it in. A reload (SIGHUP) when every changed key is one the
    daemon reloads (C(insecure-registries), C(registry-mirrors), C(debug), C(labels), C(live-restore),
    C(max-concurrent-downloads), C(max-concurrent-uploads), ...), which keeps the daemon's process and every
    running container; a restart otherwise, after which it waits until the daemon answers again.
author:
  - dockyard maintainers (@dockyard)
requirements:
  - Docker SDK for Python (C(docker)), only to reload or restart a running daemon (to see it confirm a reload, and
    to wait until it answers after a restart).
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details:
      - Check mode predicts RV(daemon_action) and returns the diff; it runs the validation too.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: full
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
      - This assumes that the system controlled/queried by the module has not changed in a relevant way.
    support: full
options:
  path:
    description: The daemon's configuration file.
    type: path
    default: /etc/docker/daemon.json
  settings:
    description:
      - The keys to merge, with daemon.json's own names and types.
      - With O(state=present), a list adds its missing entries, any other value replaces the key's value.
      - With O(state=absent), a list removes its entries (and the key once the list is empty); V(null) removes the
        key whatever its value; any other value removes the key only where the file has that same value.
    type: dict
    required: true
  state:
    description: Whether O(settings) are to be in the file or out of it.
    type: str
    choices: [present, absent]
    default: present
  apply:
    description:
      - How a changed file reaches the running daemon.
      - V(auto) reloads when every changed key is reloadable and restarts otherwise.
      - V(reload) always reloads (a changed key that needs a restart takes effect at the next one; the module warns).
      - V(restart) always restarts. V(none) only writes the file.
      - Nothing is applied when the file does not change, or when no daemon runs.
    type: str
    choices: [auto, reload, restart, none]
    default: auto
  backup:
    description: Keep a copy of the previous file, named after it with a timestamp.
    type: bool
    default: true
  pidfile:
    description:
      - The running daemon's pid file. Without one, the module looks for a C(dockerd) process.
    type: path
    default: /var/run/docker.pid
  service:
    description: The service that runs the daemon, for a restart through systemd or the init script.
    type: str
    default: docker
  dockerd_log:
    description:
      - Where the output of a daemon that was started directly (not by systemd or an init script) goes when the
        module restarts it with its own command line.
    type: path
    default: /var/log/dockerd.log
  docker_host:
    description:
      - The daemon's API address, to wait until it answers and to see it confirm a reload.
      - If not given, the value of the E(DOCKER_HOST) environment variable is used, and without it
        V(unix:///var/run/docker.sock).
    type: str
    default: unix:///var/run/docker.sock
  timeout:
    description: Seconds to wait for the daemon to stop, to start, and to confirm a reload.
    type: int
    default: 60
notes:
  - The file is written with two-space indentation; its keys keep their order.
  - A restart stops every running container unless C(live-restore) is on.
seealso:
  - name: dockerd reference, daemon configuration file and reload behaviour
    description: Which daemon.json keys a reload applies.
    link: https://docs.docker.com/reference/cli/dockerd/
"""

EXAMPLES = r"""
- name: Trust a registry over plain HTTP, without restarting the daemon
  dockyard.registry.docker_daemon_config:
    settings:
      insecure-registries:
        - registry.example.com:5000

- name: Stop trusting it
  dockyard.registry.docker_daemon_config:
    settings:
      insecure-registries:
        - registry.example.com:5000
    state: absent

- name: Change the storage driver, which needs a restart, later by hand
  dockyard.registry.docker_daemon_config:
    settings:
      storage-driver: overlay2
    apply: none
"""

RETURN = r"""
daemon_action:
  description: What was done (or, in check mode, would be done) to the running daemon.
  returned: always
  type: str
  choices: [none, reload, restart]
  sample: reload
changed_keys:
  description: The top-level keys whose value changed.
  returned: always
  type: list
  elements: str
  sample: [insecure-registries]
pid_before:
  description: The daemon's process ID before the change, when a daemon ran.
  returned: always
  type: int
  sample: 2612
pid_after:
  description: The daemon's process ID after the change. A reload keeps it; a restart changes it.
  returned: always
  type: int
  sample: 2612
validated_with:
  description: How the new configuration was checked before it was installed.
  returned: when the file changed
  type: str
  sample: json and command-line flags
backup_file:
  description: The copy of the previous file.
  returned: when a backup was made
  type: str
  sample: /etc/docker/daemon.json.2612.2026-11-27@21:00:00~
diff:
  description: The file before and after.
  returned: when the file changed
  type: dict
  contains:
    before:
      description: The previous content.
      type: str
    after:
      description: The new content.
      type: str
"""

import os
import shlex
import shutil
import signal
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from ansible_collections.dockyard.registry.plugins.module_utils._daemon_json import (
    DaemonJsonError,
    changed_keys,
    flag_conflicts,
    lightest_action,
    merge,
    parse,
    render,
)
from ansible_collections.dockyard.registry.plugins.module_utils._registry_client import (
    DOCKER_IMPORT_ERROR,
    daemon_client,
)


class DaemonConfigError(Exception):
    """The change cannot be made safely; the message names the problem, and nothing was changed."""


class Daemon:
    """The running dockerd: its process, its command line, and how to reload or restart it."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params = module.params
        self.pid = self._find_pid()

    @property
    def running(self) -> bool:
        return self.pid is not None

    def argv(self) -> list[str]:
        with open(f"/proc/{self.pid}/cmdline", "rb") as cmdline:
            return [arg.decode() for arg in cmdline.read().split(b"\0") if arg]

    def unit_argv(self) -> list[str]:
        """The ExecStart command line of the daemon's systemd unit, where systemd runs it."""
        if not self._systemd():
            return []
        rc, out, _err = self.module.run_command(
            ["systemctl", "show", "--property=ExecStart", "--value", self.params["service"]])
        # systemd prints: { path=/usr/bin/dockerd ; argv[]=/usr/bin/dockerd -H fd:// ... ; ignore_errors=no ... }
        if rc != 0 or "argv[]=" not in out:
            return []
        return out.split("argv[]=", 1)[1].split(" ;", 1)[0].split()

    def validate(self, path: str) -> str:
        """Ask dockerd to check the file where it can (23.0+); return how the file was checked."""
        dockerd = self._dockerd_binary()
        if dockerd:
            rc, out, err = self.module.run_command([dockerd, "--validate", "--config-file", path])
            said = (out + err).strip()
            if rc == 0:
                return "dockerd --validate"
            if "unknown flag" not in said:
                raise DaemonConfigError(f"dockerd --validate refused the new configuration: {said}")
        return "json and command-line flags"

    def reload(self) -> None:
        """SIGHUP, then wait for the daemon's own reload event: the proof that it took the file in."""
        since = time.time()
        os.kill(self.pid, signal.SIGHUP)
        client = self._client()
        events = client.events(since=since, until=since + self.params["timeout"],
                               filters={"type": "daemon", "event": "reload"}, decode=True)
        try:
            for _event in events:
                return
        finally:
            events.close()
        raise DaemonConfigError(
            f"the daemon (pid {self.pid}) did not confirm a reload within {self.params['timeout']} s; "
            "its log says why (a key it cannot reload, or a directive also given as a flag)")

    def restart(self) -> None:
        """Restart through systemd, else the init script, else by running the daemon's own command line again."""
        if self._systemd():
            self._run(["systemctl", "restart", self.params["service"]])
        elif not self._restart_with_init_script():
            self._restart_directly()
        self.pid = self._wait_for_new_pid()
        self._wait_until_answering()

    def _restart_with_init_script(self) -> bool:
        script = f"/etc/init.d/{self.params['service']}"
        if not os.access(script, os.X_OK):
            return False
        rc, _out, _err = self.module.run_command([script, "restart"])
        return rc == 0 and self._find_pid() is not None

    def _restart_directly(self) -> None:
        argv = self.argv()
        log = self.params["dockerd_log"]
        if not os.path.isdir(os.path.dirname(log) or "."):
            raise DaemonConfigError(f"the directory of dockerd_log {log} does not exist")
        self._stop()
        # setsid and nohup detach the daemon from the module's session, so that it outlives the module;
        # run_command returns once the shell has put it in the background, since it keeps none of the pipes.
        command = f"setsid nohup {shlex.join(argv)} >>{shlex.quote(log)} 2>&1 </dev/null &"
        rc, out, err = self.module.run_command(command, use_unsafe_shell=True)
        if rc != 0:
            raise DaemonConfigError(f"starting {argv[0]} again failed: {(out + err).strip()}")

    def _stop(self) -> None:
        os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.params["timeout"]
        while os.path.exists(f"/proc/{self.pid}") and time.monotonic() < deadline:
            time.sleep(0.2)
        if os.path.exists(f"/proc/{self.pid}"):
            raise DaemonConfigError(f"the daemon (pid {self.pid}) did not stop within {self.params['timeout']} s")

    def _wait_for_new_pid(self) -> int:
        deadline = time.monotonic() + self.params["timeout"]
        while time.monotonic() < deadline:
            pid = self._find_pid()
            if pid is not None:
                return pid
            time.sleep(0.2)
        raise DaemonConfigError(f"no dockerd process came back within {self.params['timeout']} s; "
                                f"see {self.params['dockerd_log']} or the service's log")

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + self.params["timeout"]
        last_error = None
        while time.monotonic() < deadline:
            try:
                self._client().ping()
                return
            except Exception as exc:  # noqa: BLE001 -- any failure to answer means "not yet"
                last_error = exc
                time.sleep(0.5)
        raise DaemonConfigError(f"the restarted daemon did not answer at {self.params['docker_host']} within "
                                f"{self.params['timeout']} s: {last_error}")

    def _client(self):
        if DOCKER_IMPORT_ERROR:
            self.module.fail_json(msg=missing_required_lib("docker"), exception=DOCKER_IMPORT_ERROR)
        return daemon_client(self.params["docker_host"], self.params["timeout"])

    def _find_pid(self) -> int | None:
        """The daemon's pid from its pid file when that names a live dockerd, else any dockerd process."""
        try:
            with open(self.params["pidfile"]) as pidfile:
                pid = int(pidfile.read().strip())
            if self._is_dockerd(pid):
                return pid
        except (OSError, ValueError):
            pass
        candidates = sorted(int(entry) for entry in os.listdir("/proc") if entry.isdigit() and self._is_dockerd(int(entry)))
        return candidates[0] if candidates else None

    @staticmethod
    def _is_dockerd(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/comm") as comm:
                return comm.read().strip() == "dockerd"
        except OSError:
            return False

    def _dockerd_binary(self) -> str | None:
        if self.running:
            try:
                return os.readlink(f"/proc/{self.pid}/exe")
            except OSError:
                pass
        return shutil.which("dockerd")

    def _systemd(self) -> bool:
        return os.path.isdir("/run/systemd/system") and shutil.which("systemctl") is not None

    def _run(self, command: list[str]) -> None:
        rc, out, err = self.module.run_command(command)
        if rc != 0:
            raise DaemonConfigError(f"{' '.join(command)} failed: {(out + err).strip()}")


class DaemonConfig:
    """One task: merge the settings, check the result, install it, apply it."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params = module.params
        self.path = self.params["path"]
        self.daemon = Daemon(module)

    def run(self) -> dict:
        before_text = self._read()
        before = parse(before_text, self.path)
        after = merge(before, self.params["settings"], self.params["state"])
        keys = changed_keys(before, after)
        self._warn_about_insecure_registries(after)
        pid = self.daemon.pid
        result = {"changed": bool(keys), "changed_keys": keys, "daemon_action": "none", "pid_before": pid, "pid_after": pid}
        if not keys:
            return result
        after_text = render(after)
        result["diff"] = {"before": before_text, "after": after_text,
                          "before_header": self.path, "after_header": self.path}
        result["daemon_action"] = self._action(keys)
        self._check_flags(after)
        with self._staged(after_text) as staged:
            result["validated_with"] = self.daemon.validate(staged)
            if self.module.check_mode:
                return result
            if self.params["backup"] and os.path.exists(self.path):
                result["backup_file"] = self.module.backup_local(self.path)
            self._install(staged)
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
            raise DaemonConfigError(f"{self.path} cannot be read: {exc}") from None

    def _action(self, keys: list[str]) -> str:
        apply = self.params["apply"]
        if not self.daemon.running or apply == "none":
            return "none"
        needed = lightest_action(keys)
        if apply == "reload" and needed == "restart":
            self.module.warn(f"apply=reload: {', '.join(keys)} take effect only at the daemon's next restart")
        return needed if apply == "auto" else apply

    def _warn_about_insecure_registries(self, settings: dict) -> None:
        added = [entry for entry in settings.get("insecure-registries", [])
                 if entry in (self.params["settings"].get("insecure-registries") or [])]
        if added and self.params["state"] == "present":
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
            raise DaemonConfigError(
                f"{self.path} would set what the running daemon already gets as a command-line flag: {named}. "
                "dockerd refuses to start with a directive given both ways: drop the flag from its command line "
                "(or systemd unit), or leave the key out of the settings. Nothing was changed.")

    def _staged(self, text: str):
        """A temporary file with the new content, beside the real one so that installing it is a rename."""
        directory = os.path.dirname(self.path) or "."
        return _StagedFile(directory, text, self.module.check_mode)

    def _install(self, staged: str) -> None:
        os.chmod(staged, 0o644)
        if os.geteuid() == 0:
            os.chown(staged, 0, 0)
        os.replace(staged, self.path)

    def _apply(self, action: str) -> None:
        if action == "reload":
            self.daemon.reload()
        elif action == "restart":
            self.daemon.restart()


class _StagedFile:
    """Context manager: a temporary file holding ``text``, removed on exit unless it was installed."""

    def __init__(self, directory: str, text: str, check_mode: bool) -> None:
        # In check mode the directory may not exist yet: stage elsewhere, nothing is installed anyway.
        if not check_mode:
            os.makedirs(directory, mode=0o755, exist_ok=True)
        where = directory if os.path.isdir(directory) else None
        handle, self.path = tempfile.mkstemp(prefix=".daemon.json.", dir=where)
        with os.fdopen(handle, "w", encoding="utf-8") as staged:
            staged.write(text)
            staged.flush()
            os.fsync(staged.fileno())

    def __enter__(self) -> str:
        return self.path

    def __exit__(self, *exc_info) -> None:
        if os.path.exists(self.path):
            os.unlink(self.path)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "default": "/etc/docker/daemon.json"},
            "settings": {"type": "dict", "required": True},
            "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
            "apply": {"type": "str", "default": "auto", "choices": ["auto", "reload", "restart", "none"]},
            "backup": {"type": "bool", "default": True},
            "pidfile": {"type": "path", "default": "/var/run/docker.pid"},
            "service": {"type": "str", "default": "docker"},
            "dockerd_log": {"type": "path", "default": "/var/log/dockerd.log"},
            "docker_host": {"type": "str", "default": "unix:///var/run/docker.sock",
                            "fallback": (env_fallback, ["DOCKER_HOST"])},
            "timeout": {"type": "int", "default": 60},
        },
        supports_check_mode=True,
    )
    try:
        result = DaemonConfig(module).run()
    except (DaemonConfigError, DaemonJsonError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
