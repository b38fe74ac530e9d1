# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: the files a module puts in place, compared before written.

:class:`Files` reads what is there once and writes only what differs. In check mode it only compares. It keeps what
changed for the module's ``changed`` and ``diff``; a secret's content never enters the diff, and credentials in
the text of a configuration file (a password, a registry's ``auth``, a proxy URL's user and password) are shown
as :data:`REDACTED`.

:func:`replace` is the one way the collection writes a file: the new content goes to a temporary file beside the
target, created 0600, which gets its final mode and owner before it is renamed over the target, so the file is at
no moment more open than its final mode, whatever the umask (``AnsibleModule.atomic_move`` gives a new file
``0666 & ~umask`` after the rename, and an existing file's mode to the new content before it). SELinux contexts
are kept as ``atomic_move`` keeps them. :func:`backup` keeps a copy of a file, 0600, under the name Ansible's
``backup_local`` gives.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time

from ansible_collections.dockyard.registry.plugins.module_utils import _users

REDACTED = "<redacted>"


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
        return read(path)

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
        os.makedirs(os.path.dirname(path) or ".", mode=0o755, exist_ok=True)
        replace(path, content, mode, _users.uid(owner), _users.gid(group), self.module)
        return True

    def backup(self, path: str) -> str:
        """A copy of ``path`` (0600, it may hold credentials), named as Ansible's ``backup_local`` names one."""
        return backup(path, self.module)

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
        wanted_uid, wanted_gid = _users.uid(owner), _users.gid(group)
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


def read(path: str) -> bytes | None:
    """The bytes of ``path``; None where there is no such file."""
    try:
        with open(path, "rb") as current:
            return current.read()
    except FileNotFoundError:
        return None


def stage(path: str, content, mode: int, uid: int | None = None, gid: int | None = None,
          directory: str | None = None) -> str:
    """A temporary file beside ``path`` (or in ``directory``) holding ``content`` (bytes, or a binary file to copy),
    with ``mode``, and owned by ``uid``:``gid`` where this process may give files away; renaming it is the change."""
    handle, staged = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.",
                                      dir=directory or os.path.dirname(path) or ".")
    try:
        with os.fdopen(handle, "wb") as new:
            if isinstance(content, (bytes, bytearray)):
                new.write(content)
            else:
                shutil.copyfileobj(content, new, 1 << 20)
            new.flush()
            if uid is not None and os.geteuid() == 0:
                os.fchown(new.fileno(), uid, gid if gid is not None else -1)
            os.fchmod(new.fileno(), mode)
            os.fsync(new.fileno())
    except BaseException:
        os.unlink(staged)
        raise
    return staged


def install(staged: str, path: str, module=None) -> None:
    """Rename ``staged`` over ``path``; it keeps its own mode and owner, and gets the SELinux context
    ``atomic_move`` would give it (the target's, or the policy's default for a new file)."""
    try:
        if module is not None and module.selinux_enabled():
            context = module.selinux_context(path) if os.path.exists(path) else module.selinux_default_context(path)
            module.set_context_if_different(staged, context, False)
        os.replace(staged, path)
    except BaseException:
        if os.path.exists(staged):
            os.unlink(staged)
        raise


def replace(path: str, content, mode: int, uid: int | None = None, gid: int | None = None, module=None) -> None:
    """``path`` holds ``content`` with ``mode`` and owner, at no moment anything else (see the module's docstring)."""
    install(stage(path, content, mode, uid, gid), path, module)


def backup(path: str, module=None) -> str:
    """A copy of ``path``, 0600 and owned as ``path`` is, beside it: ``<path>.<pid>.<date@time>~``, as
    ``AnsibleModule.backup_local`` names it (which copies the file's mode too, and a backup outlives the run)."""
    name = f"{path}.{os.getpid()}.{time.strftime('%Y-%m-%d@%H:%M:%S')}~"
    info = os.stat(path)
    with open(path, "rb") as current:
        replace(name, current, 0o600, info.st_uid, info.st_gid, module)
    return name


# What a configuration file says that is a credential: the value of such a key (JSON, TOML, YAML, INI), and the
# user information of a URL (``http://user:password@proxy:3128``).
_SECRET_KEYS = ("password", "passwd", "auth", "identitytoken", "identity_token", "registrytoken", "token", "secret",
                "secret_key", "secretkey", "secret_access_key", "secretaccesskey")
_SECRET_VALUE = re.compile(
    r"""(?P<key>(?<![\w.-])(?P<quote>["']?)(?:""" + "|".join(_SECRET_KEYS) + r""")(?P=quote))(?P<separator>\s*[:=]\s*)"""
    r"""(?P<value>"(?:[^"\\\n]|\\.)*"|'[^'\n]*'|[^\s,{}\[\]"'#][^\s,}\]#]*)""", re.IGNORECASE)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/?#@\s\"']+@")


def redact(text: str) -> str:
    """``text`` with every credential it holds replaced by :data:`REDACTED` (see ``_SECRET_KEYS``)."""
    def value(match: re.Match) -> str:
        quote = match["value"][0] if match["value"][0] in "\"'" else ""
        return f"{match['key']}{match['separator']}{quote}{REDACTED}{quote}"
    return _SECRET_VALUE.sub(value, _URL_CREDENTIALS.sub(lambda match: f"{match['scheme']}{REDACTED}@", text))


def _text(content: bytes | None, secret: bool) -> str:
    if content is None:
        return "absent"
    if secret:
        return f"({len(content)} bytes, not shown)"
    try:
        return redact(content.decode("utf-8"))
    except UnicodeDecodeError:
        return f"({len(content)} bytes of binary content)"
