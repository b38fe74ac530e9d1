# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: the hosts.toml that Docker's containerd image store reads.

With the containerd image store (the default of new Docker 29 installs), the engine resolves a registry through
containerd's hosts library rooted at its own certs.d: ``/etc/docker/certs.d/<host:port>/hosts.toml`` first, and
the directory's ``*.crt`` files only where there is no hosts.toml (moby's ``daemon/hosts.go``). daemon.json's
``insecure-registries`` is reported ignored there on push, so the insecure fallback needs ``skip_verify`` (or a
plain-HTTP host) in hosts.toml as well. The file is read on every pull and push: no reload, no restart.

The CA files themselves (``ca.crt``, and ``ca-next.crt`` during a CA rollover) are the Docker trust the
registry_trust module installs; hosts.toml names whichever of them are there, since a host entry with a ``ca``
list trusts those files and no others.
"""

from __future__ import annotations

from ansible_collections.dockyard.registry.plugins.module_utils._runtimes.containerd import directory_trust, hosts_toml
from ansible_collections.dockyard.registry.plugins.module_utils._runtimes.plan import (
    Filesystem,
    Plan,
    absent_operation,
    check_common,
    directory_operation,
    file_operation,
    owned,
)

CERTS_DIR = "/etc/docker/certs.d"
CA_FILES = ("ca.crt",)


def plan(addresses, mode: str, state: str, *, tls: bool = True, ca_files=CA_FILES, fs: Filesystem | None = None,
         reads_hosts_toml: bool = True, certs_dir: str = CERTS_DIR) -> Plan:
    """``<certs_dir>/<address>/hosts.toml`` (0644) for each address, or its removal.

    ``ca_files`` are the names of the CA files the address's directory holds (``ca.crt``, plus ``ca-next.crt``
    while a CA rollover runs); hosts.toml lists them by absolute path. ``reads_hosts_toml`` is
    :func:`~.detect.docker_reads_hosts_toml`'s answer: where the engine does not read hosts.toml, nothing is written
    (one written before stays, harmless to the graph-driver store and ready for a move to the containerd store).
    ``absent`` removes the collection's own hosts.toml; the directory is left to the CA's removal.
    """
    addresses = check_common(addresses, mode, state, tls)
    fs = fs or Filesystem()
    result = Plan("docker", found={"certs_dir": certs_dir, "reads_hosts_toml": reads_hosts_toml})
    if state == "present" and not reads_hosts_toml:
        return result
    for address in addresses:
        directory = f"{certs_dir}/{address}"
        hosts_file = f"{directory}/hosts.toml"
        existing = fs.read(hosts_file)
        if existing is not None and not owned(existing):
            if state == "absent":
                result.warnings.append(f"{hosts_file} was not written by dockyard.registry: left in place")
                continue
            result.warnings.append(f"{hosts_file} was not written by dockyard.registry: replaced (see the diff)")
        if state == "absent":
            result.operations.append(absent_operation(fs, hosts_file))
            continue
        content = hosts_toml(address, mode, tls=tls, ca_files=[f"{directory}/{name}" for name in ca_files],
                             reader="Docker's containerd image store")
        result.operations += [directory_operation(fs, directory), file_operation(fs, hosts_file, content, 0o644)]
    return result


def trust_report(address: str, fs: Filesystem | None = None, *, reads_hosts_toml: bool = True,
                 certs_dir: str = CERTS_DIR) -> dict:
    """Which files the engine reads for ``address`` and whether they verify the registry's certificate.

    An engine that reads hosts.toml (:func:`~.detect.docker_reads_hosts_toml`) takes it over the ``*.crt``
    files; one that does not reads only those. daemon.json's ``insecure-registries``, which the caller knows,
    turns verification off on top of this.
    """
    fs = fs or Filesystem()
    directory = f"{certs_dir}/{address}"
    if reads_hosts_toml:
        return {"runtime": "docker", **directory_trust(fs, directory)}
    crts = [f"{directory}/{name}" for name in fs.listdir(directory) if name.endswith(".crt")]
    return {"runtime": "docker", "reads": crts, "verifies": True, "ca": crts or None}
