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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.registry.plugins.module_utils._gc_schedule import GcSchedule
from ansible_collections.dockyard.registry.plugins.module_utils._registry.retention_rules import RULE_OPTIONS
from ansible_collections.dockyard.registry.plugins.module_utils._service import SERVICE_MANAGER_OPTION


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
    module.exit_json(**GcSchedule(module).result())


if __name__ == "__main__":
    main()
