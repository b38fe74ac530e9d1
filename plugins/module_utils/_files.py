# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: the files a module puts in place, compared before written.

:class:`Files` reads what is there once, writes only what differs, through a temporary file beside the target
(created 0600, so a secret is never readable by others, not even for a moment) and ``AnsibleModule.atomic_move``
(which keeps SELinux contexts and file attributes right), then sets mode and owner. In check mode it only
compares. It keeps what changed for the module's ``changed`` and ``diff``; a secret's content never enters the diff.
"""

from __future__ import annotations

import grp
import os
import pwd
import tempfile


class Files:
    """The file changes of one module run."""

    def __init__(self, module) -> None:
        self.module = module
        self.check_mode = module.check_mode
        self.changed_paths: list[str] = []
        self.removed: set[str] = set()  # what this run removes (in check mode: would remove)
        self.diffs: list[dict] = []

    @property
    def changed(self) -> bool:
        return bool(self.changed_paths)

    def read(self, path: str) -> bytes | None:
        try:
            with open(path, "rb") as current:
                return current.read()
        except FileNotFoundError:
            return None

    def directory(self, path: str, mode: int, owner: str = "root", group: str = "root") -> bool:
        """``path`` is a directory with ``mode`` and owner; its parents are made as needed."""
        if not os.path.isdir(path):
            self._changed(path, "absent", f"directory {oct(mode)}")
            if not self.check_mode:
                os.makedirs(path, mode=mode, exist_ok=True)
                self._attributes(path, mode, owner, group)
            return True
        return self._attributes(path, mode, owner, group, report=True)

    def file(self, path: str, content: bytes, mode: int, owner: str = "root", group: str = "root",
             secret: bool = False) -> bool:
        """``path`` holds exactly ``content`` with ``mode`` and owner; written atomically where it differs."""
        current = self.read(path)
        if current == content:
            return self._attributes(path, mode, owner, group, report=True)
        self._changed(path, _text(current, secret), _text(content, secret))
        if self.check_mode:
            return True
        directory = os.path.dirname(path) or "."
        os.makedirs(directory, mode=0o755, exist_ok=True)
        handle, staged = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=directory)
        try:
            with os.fdopen(handle, "wb") as new:
                new.write(content)
                new.flush()
                os.fsync(new.fileno())
            self.module.atomic_move(staged, path)
        finally:
            if os.path.exists(staged):
                os.unlink(staged)
        self._attributes(path, mode, owner, group)
        return True

    def absent(self, path: str, secret: bool = False) -> bool:
        current = self.read(path)
        if current is None:
            return False
        self._changed(path, _text(current, secret), "absent")
        self.removed.add(path)
        if not self.check_mode:
            os.unlink(path)
        return True

    def empty_directory_absent(self, path: str) -> bool:
        """Remove ``path`` if it is a directory with nothing in it (or nothing but what this run removes)."""
        if not os.path.isdir(path):
            return False
        if any(os.path.join(path, name) not in self.removed for name in os.listdir(path)):
            return False
        self._changed(path, "directory", "absent")
        if not self.check_mode:
            os.rmdir(path)
        return True

    def attributes(self, path: str, mode: int, owner: str = "root", group: str = "root") -> bool:
        """``path`` (which exists) has ``mode`` and owner; its content is left as it is."""
        return self._attributes(path, mode, owner, group, report=True)

    def pending(self, path: str, why: str) -> None:
        """A change of ``path`` that a later step of the same task makes (a certificate being signed, say)."""
        self._changed(path, "to be replaced", why)

    def _attributes(self, path: str, mode: int, owner: str, group: str, report: bool = False) -> bool:
        """Set mode and owner where they differ; with ``report``, count it as a change of ``path``."""
        stat = os.stat(path)
        wanted_uid, wanted_gid = _uid(owner), _gid(group)
        differs = (stat.st_mode & 0o7777) != mode or (os.geteuid() == 0 and (stat.st_uid, stat.st_gid)
                                                      != (wanted_uid, wanted_gid))
        if not differs:
            return False
        if report:
            self._changed(path, f"mode {oct(stat.st_mode & 0o7777)} owner {stat.st_uid}:{stat.st_gid}",
                          f"mode {oct(mode)} owner {owner}:{group}")
        if not self.check_mode:
            if os.geteuid() == 0:
                os.chown(path, wanted_uid, wanted_gid)
            os.chmod(path, mode)
        return True

    def _changed(self, path: str, before: str, after: str) -> None:
        if path not in self.changed_paths:
            self.changed_paths.append(path)
        self.diffs.append({"before_header": path, "after_header": path, "before": before, "after": after})


def _text(content: bytes | None, secret: bool) -> str:
    if content is None:
        return "absent"
    if secret:
        return f"({len(content)} bytes, not shown)"
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return f"({len(content)} bytes of binary content)"


def _uid(owner: str) -> int:
    return pwd.getpwnam(owner).pw_uid if not str(owner).isdigit() else int(owner)


def _gid(group: str) -> int:
    return grp.getgrnam(group).gr_gid if not str(group).isdigit() else int(group)
