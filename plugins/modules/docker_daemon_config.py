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
    C(dockerd --validate). For 20.10, the module knows every key the engine accepts and refuses the others, naming
    them and the release. On every engine it refuses a key that the running daemon also gets as a command-line flag
    (from its command line and its systemd unit).
  - Writes atomically, root-owned, mode 0644 (an existing file keeps its own mode and owner), with a backup of the
    previous file. The new file has its mode and owner before it is renamed into place.
  - Applies a change with the lightest action that takes it in on the engine's release. A reload (SIGHUP) when every
    changed key is one the daemon reloads (C(insecure-registries), C(registry-mirrors), C(debug), C(labels),
    C(live-restore), C(max-concurrent-downloads), C(max-concurrent-uploads), C(default-runtime), C(runtimes),
    C(shutdown-timeout), C(features), ...), which keeps the daemon's process and every running container; a restart
    otherwise, after which it waits until the daemon answers again.
  - When the daemon refuses the new file all the same (a reload it reports as failed, a restart that does not come
    back), puts the previous file back, brings the daemon back on it (a reload, or a start with its previous command
    line, init script or systemd unit), and fails naming the changed keys and the daemon's own message from its log.
  - With O(keep_containers), a change that needs a restart keeps every running container. Live-restore is turned on by
    a reload first (and stays on), then the daemon restarts, and the module fails unless every container that ran
    before runs with the same process afterwards. It reports, for every change, whether the containers kept running.
author:
  - dockyard maintainers (@dockyard)
requirements:
  - Docker SDK for Python (C(docker)), only to reload or restart a running daemon (to see it confirm a reload, and
    to wait until it answers after a restart on a TCP address); not to start one with O(start).
extends_documentation_fragment:
  - dockyard.registry._attributes
  - dockyard.registry._attributes.ACTIONGROUP
attributes:
  check_mode:
    support: full
    details:
      - Check mode predicts RV(daemon_action) and returns the diff; it runs the validation too.
  diff_mode:
    support: full
  idempotent:
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
      - With O(state=absent), a list removes its entries, and leaves an empty list where none is left (a reload
        resets only the keys the file sets, so a key taken out would keep its entries in the daemon); V(null) removes the
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
    description: Keep a copy of the previous file, named after it with a timestamp, readable by root alone (0600), since
      it may hold a proxy's password.
    type: bool
    default: true
  pidfile:
    description:
      - The running daemon's pid file (C(dockerd) writes it, also under systemd). Without a live daemon there, the
        module asks systemd for the service's main process; it never looks for a C(dockerd) among all processes,
        where it could find another daemon (one inside a container, say).
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
  keep_containers:
    description:
      - Keep every running container through a restart. Where containers run and live-restore is not in force, the
        module first merges C(live-restore=true) into the file and reloads, then writes the new file, with
        C(live-restore) on, and restarts.
      - Refused on a swarm node (live-restore does not work in swarm mode), and with O(settings) that turn
        C(live-restore) off.
    type: bool
    default: false
  start:
    description:
      - Where no daemon runs (none named by O(pidfile), none that systemd runs as O(service)), start C(dockerd) with
        these arguments once the file is written, as a host without a service manager for Docker needs (the
        docker_engine role's direct start). It runs detached, from C(/), with the module's environment, its output
        appended to O(dockerd_log); the module waits until it answers at O(docker_host), for at most O(timeout)
        seconds, and fails with what the daemon logged where it does not. RV(daemon_action) is V(started) then.
      - Where a daemon runs, nothing is started. Not given, a daemon that does not run is left so.
      - Waiting on a Unix socket needs no Docker SDK.
    type: list
    elements: str
notes:
  - The file is written with two-space indentation; its keys keep their order.
  - A restart stops every running container unless C(live-restore) is on (see O(keep_containers)).
  - The default bridge network keeps its settings (C(icc), C(bip), C(mtu), ...) while containers run through a
    restart; the module reports them in RV(deferred_keys) and warns.
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

- name: Restrict the default bridge and new privileges, restarting without stopping a container
  dockyard.registry.docker_daemon_config:
    settings:
      icc: false
      no-new-privileges: true
    keep_containers: true

- name: Start dockerd directly where nothing runs it, its log in /var/log/dockerd.log
  dockyard.registry.docker_daemon_config:
    settings: {}
    start: [--data-root, /srv/docker]

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
  choices: [none, reload, restart, started]
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
  description: The daemon's process ID after the change. A reload keeps it; a restart changes it; O(start) gives one.
  returned: always
  type: int
  sample: 2612
engine_version:
  description: The engine's release, from the running daemon or else the C(dockerd) binary.
  returned: when the file changed
  type: str
  sample: 20.10.24
live_restore_first:
  description: Whether live-restore was (or, in check mode, would be) turned on by a reload before the restart.
  returned: when the file changed
  type: bool
containers_kept:
  description: Whether every container that ran before the reload or restart runs with the same process after it.
  returned: when the daemon was reloaded or restarted
  type: bool
containers:
  description: The containers that ran before the reload or restart, and those of them that did not keep running.
  returned: when the daemon was reloaded or restarted
  type: dict
  contains:
    running_before:
      description: Names of the containers that ran before.
      type: list
      elements: str
    lost:
      description: Names of those that no longer run, or run with another process.
      type: list
      elements: str
deferred_keys:
  description: Settings of the default bridge network that wait until the daemon starts with no container running.
  returned: when a restart kept containers running and changed such a setting
  type: list
  elements: str
  sample: [icc]
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
  description: The file before and after, with credentials (passwords, tokens, a proxy URL's user and password) shown as
    V(<redacted>).
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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.registry.plugins.module_utils._daemon_config import DaemonConfig
from ansible_collections.dockyard.registry.plugins.module_utils._daemon_json import DaemonJsonError
from ansible_collections.dockyard.registry.plugins.module_utils._docker_client import DaemonError, docker_argument_spec
from ansible_collections.dockyard.registry.plugins.module_utils._docker_daemon import DaemonProcess
from ansible_collections.dockyard.registry.plugins.module_utils._dockerd import DEFAULT_PIDFILE


def main() -> None:
    spec = docker_argument_spec()
    spec.update(
        path={"type": "path", "default": "/etc/docker/daemon.json"},
        settings={"type": "dict", "required": True},
        state={"type": "str", "default": "present", "choices": ["present", "absent"]},
        apply={"type": "str", "default": "auto", "choices": ["auto", "reload", "restart", "none"]},
        backup={"type": "bool", "default": True},
        pidfile={"type": "path", "default": DEFAULT_PIDFILE},
        service={"type": "str", "default": "docker"},
        dockerd_log={"type": "path", "default": "/var/log/dockerd.log"},
        timeout={"type": "int", "default": 60},
        keep_containers={"type": "bool", "default": False},
        start={"type": "list", "elements": "str"},
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    params = module.params
    try:
        daemon = DaemonProcess(module.run_command, pidfile=params["pidfile"], service=params["service"],
                               docker_host=params["docker_host"], dockerd_log=params["dockerd_log"],
                               timeout=params["timeout"])
        result = DaemonConfig(module, params["path"], params["settings"], params["state"], params["apply"],
                              params["backup"], daemon, params["keep_containers"], params["start"]).run()
    except (DaemonError, DaemonJsonError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
