# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_metrics
short_description: What the collection knows about a registry, as a file for node_exporter's textfile collector
version_added: 0.2.0
description:
  - Writes gauges in Prometheus's text exposition format to O(path), a C(*.prom) file in the directory that the
    textfile collector of Prometheus's node_exporter reads (Debian's C(prometheus-node-exporter) reads
    C(/var/lib/prometheus/node-exporter)), atomically and only where the content differs.
  - O(certificates) adds the expiry (notAfter) of each certificate file as a Unix timestamp, read on the host.
  - The registry_server role writes the certificates' expiry with it, and its C(gc) entry point the last garbage
    collection's time, result and what it freed.
attributes:
  idempotent:
    support: full
    details:
      - The same metrics and certificates give the same file; a metric whose value is a time changes with it.
  check_mode:
    support: full
  diff_mode:
    support: full
extends_documentation_fragment:
  - dockyard.registry._attributes
author:
  - dockyard maintainers (@dockyard)
options:
  path:
    description:
      - The file to write, named C(*.prom) (the textfile collector reads no other), in a directory the collector
        reads. Its directory is made (0755) where it is missing.
    type: path
    required: true
  metrics:
    description:
      - Gauges, in the order given.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The metric's name (C([a-zA-Z_:][a-zA-Z0-9_:]*)).
        type: str
        required: true
      help:
        description: Its C(# HELP) text.
        type: str
      value:
        description:
          - A number, or V(true) / V(false) (1 / 0).
          - V(null) or an empty string keeps the value the file holds for the same name and labels, and leaves the
            sample out where it holds none (a time of the last success that a failed run must not change).
        type: raw
      labels:
        description: Its labels (names C([a-zA-Z_][a-zA-Z0-9_]*)), besides O(labels).
        type: dict
        default: {}
  certificates:
    description:
      - Certificates (PEM files on the host; the first certificate of each) whose notAfter is written as
        C(dockyard_registry_certificate_expiry_timestamp_seconds) with the label C(certificate) set to O(certificates[].name).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The value of the label C(certificate), for example V(server) or V(ca).
        type: str
        required: true
      path:
        description: The certificate file.
        type: path
        required: true
  gc_run:
    description:
      - Adds the record of a garbage collection that ended now, as the C(gc) entry point of the registry_server role and
        its scheduled runs (C(registry_server_gc_schedule)) write it in C(<registry_server_container_name>-gc.prom), that is
        C(dockyard_registry_gc_last_run_timestamp_seconds), C(dockyard_registry_gc_last_run_success),
        C(dockyard_registry_gc_last_success_timestamp_seconds) (kept from the file when the run failed),
        C(dockyard_registry_gc_deleted_blobs), C(dockyard_registry_gc_deleted_manifests) and
        C(dockyard_registry_gc_freed_bytes).
    type: dict
    suboptions:
      success:
        description: Whether the collection succeeded.
        type: bool
        required: true
      deleted_blobs:
        description: How many blobs it deleted.
        type: int
        default: 0
      deleted_manifests:
        description: How many manifests it deleted.
        type: int
        default: 0
      freed_bytes:
        description: The bytes it freed; V(null) or an empty string where they are unknown (kept from the file).
        type: raw
  storage:
    description:
      - The registry's storage directory on the host. Written as C(dockyard_registry_storage_info) (value 1) with the
        labels C(path) and C(mountpoint), the mount point of the filesystem that holds it, so that an alert can join
        node_exporter's C(node_filesystem_avail_bytes) of that filesystem.
    type: path
  labels:
    description: Labels of every sample, for example the registry's container name.
    type: dict
    default: {}
  mode:
    description: The file's mode. Whoever runs node_exporter must read it.
    type: raw
    default: "0644"
seealso:
  - name: node_exporter's textfile collector
    description: How node_exporter reads C(*.prom) files.
    link: https://github.com/prometheus/node_exporter#textfile-collector
  - name: Exposition formats
    description: Prometheus's text format.
    link: https://prometheus.io/docs/instrumenting/exposition_formats/
"""

EXAMPLES = r"""
- name: Export the expiry of the registry's certificate and CA
  dockyard.registry.registry_metrics:
    path: /var/lib/prometheus/node-exporter/dockyard-registry.prom
    labels:
      registry: dockyard-registry
    certificates:
      - name: server
        path: /etc/dockyard/registry/tls/server.crt
      - name: ca
        path: /etc/dockyard/registry/tls/ca.crt

- name: Record a garbage collection that failed, keeping the time of the last success
  dockyard.registry.registry_metrics:
    path: /var/lib/prometheus/node-exporter/dockyard-registry-gc.prom
    labels:
      registry: dockyard-registry
    gc_run:
      success: false
"""

RETURN = r"""
content:
  description: The file's content (what it holds after the run, or would in check mode).
  returned: always
  type: str
  sample: |
    # HELP dockyard_registry_certificate_expiry_timestamp_seconds The certificate's notAfter, as a Unix timestamp.
    # TYPE dockyard_registry_certificate_expiry_timestamp_seconds gauge
    dockyard_registry_certificate_expiry_timestamp_seconds{certificate="server",registry="dockyard-registry"} 1830297600
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.registry.plugins.module_utils._files import Files
from ansible_collections.dockyard.registry.plugins.module_utils._metrics import (
    MetricError,
    expiry,
    gc_record,
    render,
)

try:
    from cryptography import x509
except ImportError:  # reported by main()
    x509 = None

CERTIFICATE_EXPIRY = "dockyard_registry_certificate_expiry_timestamp_seconds"
CERTIFICATE_EXPIRY_HELP = "The certificate's notAfter, as a Unix timestamp."


def certificate_metrics(certificates: list[dict], labels: dict, files: Files) -> list[dict]:
    metrics = []
    for certificate in certificates:
        if files.check_mode and not os.path.exists(certificate["path"]):
            # A check run before the certificate's first issue (the registry_pki role writes it in the real run).
            files.pending(files.module.params["path"], f"with the expiry of {certificate['path']} once it is issued")
            continue
        try:
            with open(certificate["path"], "rb") as pem:
                loaded = x509.load_pem_x509_certificate(pem.read())
        except (OSError, ValueError) as exc:
            raise MetricError(f"certificates: {certificate['name']}: {certificate['path']} is not a readable PEM "
                              f"certificate ({exc})") from None
        metrics.append({"name": CERTIFICATE_EXPIRY, "help": CERTIFICATE_EXPIRY_HELP, "value": expiry(loaded),
                        "labels": {**labels, "certificate": certificate["name"]}})
    return metrics


STORAGE_INFO = "dockyard_registry_storage_info"
STORAGE_INFO_HELP = "The registry's storage directory, and the mount point of the filesystem that holds it."


def mount_point(path: str) -> str:
    """The mount point of the filesystem that holds ``path`` (or would, for a directory not made yet)."""
    path = os.path.abspath(path)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    path = os.path.realpath(path)
    while not os.path.ismount(path):
        path = os.path.dirname(path)
    return path


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "metrics": {"type": "list", "elements": "dict", "default": [], "options": {
                "name": {"type": "str", "required": True},
                "help": {"type": "str"},
                "value": {"type": "raw"},
                "labels": {"type": "dict", "default": {}},
            }},
            "certificates": {"type": "list", "elements": "dict", "default": [], "options": {
                "name": {"type": "str", "required": True},
                "path": {"type": "path", "required": True},
            }},
            "gc_run": {"type": "dict", "options": {
                "success": {"type": "bool", "required": True},
                "deleted_blobs": {"type": "int", "default": 0},
                "deleted_manifests": {"type": "int", "default": 0},
                "freed_bytes": {"type": "raw"},
            }},
            "storage": {"type": "path"},
            "labels": {"type": "dict", "default": {}},
            "mode": {"type": "raw", "default": "0644"},
        },
        supports_check_mode=True,
    )
    params = module.params
    if x509 is None:
        module.fail_json(msg="the Python library cryptography is missing on the host (the preflight installs it)")
    if not params["path"].endswith(".prom"):
        module.fail_json(msg=f"path: {params['path']} must end with .prom: node_exporter's textfile collector reads "
                             "no other file")
    try:
        mode = int(str(params["mode"]), 8)
    except ValueError:
        module.fail_json(msg=f"mode: {params['mode']!r} is not an octal mode such as 0644")
    files = Files(module)
    current = (files.read(params["path"]) or b"").decode("utf-8", "replace")
    metrics = list(params["metrics"])
    try:
        if params["gc_run"]:
            run = params["gc_run"]
            metrics += gc_record(time.time(), run["success"], run["deleted_blobs"], run["deleted_manifests"],
                                 run["freed_bytes"])
        metrics += certificate_metrics(params["certificates"], params["labels"], files)
        if params["storage"]:
            metrics.append({"name": STORAGE_INFO, "help": STORAGE_INFO_HELP, "value": 1, "labels": {
                "path": params["storage"], "mountpoint": mount_point(params["storage"])}})
        content = render(metrics, params["labels"], current)
    except MetricError as exc:
        module.fail_json(msg=str(exc) if str(exc).startswith("certificates:") else f"metrics: {exc}")
    directory = params["path"].rsplit("/", 1)[0] or "/"
    files.directory(directory, 0o755)
    files.file(params["path"], content.encode(), mode)
    result = {"changed": files.changed, "content": content}
    if module._diff:
        result["diff"] = files.diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
