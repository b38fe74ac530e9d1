"""What the tests of module_utils share: a real AnsibleModule, the writer a module run writes through, and a record
of what the code does to files."""

from __future__ import annotations

import json
import os
import stat
import sys

import pytest


@pytest.fixture
def ansible_module(monkeypatch):
    """Build a real ``AnsibleModule`` (no options of its own) as a module run would, in check mode or not."""
    # Imported here: test_oldest_cryptography runs some of these tests under the host's Python, without Ansible.
    from ansible.module_utils import basic

    def build(check_mode: bool = False) -> basic.AnsibleModule:
        args = {"ANSIBLE_MODULE_ARGS": {"_ansible_check_mode": check_mode, "_ansible_diff": True}}
        monkeypatch.setattr(basic, "_ANSIBLE_ARGS", json.dumps(args).encode())
        monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy", raising=False)  # ansible-core 2.19 and later
        return basic.AnsibleModule(argument_spec={}, supports_check_mode=True)
    return build


@pytest.fixture
def plan_writer(ansible_module):
    """The writer the registry_trust module performs a runtime's plan with (``_runtimes.plan.Writer`` on the run's
    ``_files.Files``), for the host whose root is the given ``Filesystem``'s: ``plan_writer(fs, check_mode=False)``."""
    from ansible_collections.dockyard.registry.plugins.module_utils._files import Files
    from ansible_collections.dockyard.registry.plugins.module_utils._runtimes.plan import Writer

    def build(fs, check_mode: bool = False) -> Writer:
        return Writer(Files(ansible_module(check_mode)), fs)
    return build


class FileEvents:
    """Every mode a file below ``directory`` is given (``os.chmod``, ``os.fchmod``) and every file renamed into place
    there, with the mode and owner the renamed file had at that moment, as Python's audit events report them."""

    def __init__(self, directory: str) -> None:
        self.directory = os.path.realpath(directory)
        self.modes: list[tuple[str, int]] = []  # (path, mode) of each chmod
        self.renames: list[tuple[str, int, int, int]] = []  # (destination, mode, uid, gid) of the file moved there
        self.active = False

    def _inside(self, path) -> str | None:
        if isinstance(path, int):  # a descriptor: fchmod
            try:
                path = os.readlink(f"/proc/self/fd/{path}")
            except OSError:
                return None
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not isinstance(path, str):
            return None
        path = os.path.realpath(path)
        return path if path.startswith(self.directory + os.sep) else None

    def __call__(self, event: str, args: tuple) -> None:
        if not self.active:
            return
        if event == "os.chmod":
            path = self._inside(args[0])
            if path is not None:
                self.modes.append((path, args[1] & 0o7777))
        elif event == "os.rename":
            source, destination = self._inside(args[0]), self._inside(args[1])
            if source is not None and destination is not None:
                info = os.stat(source)
                self.renames.append((destination, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid))


_RECORDERS: list[FileEvents] = []


def _audit(event: str, args: tuple) -> None:
    for recorder in _RECORDERS:
        recorder(event, args)


sys.addaudithook(_audit)  # an audit hook stays for the life of the process: it passes events to the active recorders


@pytest.fixture
def file_events():
    """Record, while the ``with`` block runs, what happens to the files below a directory (see FileEvents)."""
    recorders = []

    class _Recording:
        def __init__(self, directory) -> None:
            self.events = FileEvents(str(directory))

        def __enter__(self) -> FileEvents:
            self.events.active = True
            _RECORDERS.append(self.events)
            recorders.append(self.events)
            return self.events

        def __exit__(self, *exc_info) -> None:
            self.events.active = False

    yield _Recording
    for recorder in recorders:
        if recorder in _RECORDERS:
            _RECORDERS.remove(recorder)
