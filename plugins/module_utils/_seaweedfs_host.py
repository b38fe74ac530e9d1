# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: a host of the registry's SeaweedFS store, the registry_store module's
work.

Its ``weed`` binary (copied by the action plugin, installed here), its system user, its data and configuration (what
:mod:`_seaweedfs` renders), the ``weed server`` process kept running and awaited until each of its servers answers,
and the bucket, made once the cluster has a leader. The module's own requests to the store go over mutual TLS with
the host's certificate.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import socket
import time
import urllib.error
import urllib.parse

from ansible.module_utils.urls import open_url

from ansible_collections.dockyard.registry.plugins.module_utils._files import Files, replace
from ansible_collections.dockyard.registry.plugins.module_utils._names import address_host, as_ip
from ansible_collections.dockyard.registry.plugins.module_utils._seaweedfs import (
    filer_token,
    local_sockets,
    s3_identities,
    security_toml,
    server_argv,
)
from ansible_collections.dockyard.registry.plugins.module_utils._service import ServiceError
from ansible_collections.dockyard.registry.plugins.module_utils._service_module import ServiceHost, listening
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


def wait_writable(masters: list[str], tls: dict, deadline: float) -> None:
    """Wait until the cluster can take a write: a master assigns a file ID (``/dir/assign``, which a master passes to
    the leader, and which grows the first volumes). Every port of a store that has just started answers some seconds
    before that, and a write in between fails (the registry answers a push with 500)."""
    last = "no master answered"
    while True:
        for master in masters:
            try:
                status, body = http_json(f"https://{master}/dir/assign", tls)
            except (OSError, ValueError) as exc:
                last = f"{master}: {exc}"
                continue
            if status == 200 and body.get("fid"):
                return
            last = f"{master}: {body.get('error') or f'answered {status}'}"
        if time.monotonic() > deadline:
            raise ServiceError(f"the store could not take a write within its timeout: {last}. Are enough volume "
                               "servers up for the replication (registry_store_replication)?")
        time.sleep(0.5)


def ensure_bucket(module, files: Files, host: str, filer_port: int, binary: str, config_dir: str, tls: dict,
                  timeout: float, started: bool = False) -> bool:
    """Make the bucket unless the filer lists it; True when it was (or, in check mode, would be) made. Where the store
    was just ``started`` or the bucket made, wait until the store can take a write as well."""
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
                if started and not module.check_mode:
                    wait_writable(masters, tls, deadline)
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
            wait_writable(masters, tls, deadline)
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


class SeaweedFSHost(ServiceHost):
    """One run of the registry_store module."""

    def run(self) -> dict:
        module, params, files = self.module, self.params, self.files
        for name in ("master", "volume", "filer", "s3"):
            if not str(params["ports"].get(name, "")).isdigit():
                module.fail_json(msg=f"ports must give the {name} port as a number; got {params['ports']!r}")
        problems = input_problems(params)
        if problems:
            module.fail_json(msg="; ".join(problems))
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
                    module.fail_json(msg=f"the copied SeaweedFS binary {params['binary_src']} does not have the "
                                         f"checksum {wanted}")
                install_binary(module, files, params["binary_src"], params["binary"])
            elif module.check_mode:
                files.pending(params["binary"], f"SeaweedFS binary {params['version']}")
            else:
                return {"changed": False, "binary_needed": machine}
        if params["master"] and f"{params['address']}:{params['ports']['master']}" not in params["masters"]:
            module.fail_json(msg=f"this host runs a master, but its address {params['address']}:"
                                 f"{params['ports']['master']} is not among the masters {', '.join(params['masters'])}")
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
        config_changed |= files.file(security_config,
                                     security_toml(params["jwt_keys"], white_list(trusted), tls, digest),
                                     0o600, owner, group, secret=True)
        argv = server_argv(params["binary"], address=params["address"], bind_address=params["bind_address"],
                           data_dir=params["data_dir"], masters=params["masters"], master=params["master"],
                           ports=params["ports"], replication=params["replication"],
                           volume_size_limit_mb=params["volume_size_limit_mb"], volume_max=params["volume_max"],
                           s3_config=s3_config, config_dir=params["config_dir"], tls=tls, rack=params["rack"],
                           data_center=params["data_center"])
        host = params["bind_address"] if params["bind_address"] not in ("", "0.0.0.0") else params["address"]
        servers = (("master",) if params["master"] else ()) + ("volume", "filer", "s3")
        ports = [params["ports"][name] for name in servers]

        def ready():
            silent = [str(port) for port in ports if not listening(host, int(port))]
            return f"nothing listens on {host} port {', '.join(silent)}" if silent else None

        action = self.keep_running(SERVICE, argv, description="SeaweedFS (dockyard.registry store)",
                                   files_changed=config_changed or (binary_changed and not module.check_mode),
                                   ready=ready, user=owner,
                                   before_start=lambda: remove_foreign_sockets(local_sockets(params["ports"]), owner))
        created = ensure_bucket(module, files, host, int(params["ports"]["filer"]), params["binary"],
                                params["config_dir"], tls, params["timeout"], started=action is not None) \
            if params["bucket"] else False
        return self.result(action, bucket_created=created,
                           endpoint=f"https://{params['address']}:{params['ports']['s3']}")
