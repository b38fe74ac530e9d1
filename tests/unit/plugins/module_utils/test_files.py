"""The collection's one file writer (``_files``): a file is never, not even for a moment, more open than asked.

Runs through a real AnsibleModule, with a umask of 0 (the worst a host can have), and watches every mode a file of
the directory is given and the file each rename puts in place.
"""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.dockyard.registry.plugins.module_utils._files import Files, redact

SECRET = b"-----BEGIN PRIVATE KEY-----\nnot shown\n-----END PRIVATE KEY-----\n"


@pytest.fixture
def open_umask():
    previous = os.umask(0)
    yield
    os.umask(previous)


def _assert_never_more_open(events, target: str, mode: int) -> None:
    wider = [(path, oct(given)) for path, given in events.modes if given & ~mode]
    assert wider == [], f"a file was given more than {oct(mode)}: {wider}"
    moved = [(destination, oct(moved_mode), uid, gid) for destination, moved_mode, uid, gid in events.renames]
    assert moved == [(target, oct(mode), os.geteuid(), os.getegid())], moved


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o640], ids=oct)
def test_a_new_secret_file_carries_its_mode_before_it_is_moved_into_place(ansible_module, file_events, tmp_path,
                                                                          open_umask, mode):
    files = Files(ansible_module())
    target = str(tmp_path / "server.key")

    with file_events(tmp_path) as events:
        assert files.file(target, SECRET, mode, secret=True)

    _assert_never_more_open(events, target, mode)
    assert stat.S_IMODE(os.stat(target).st_mode) == mode
    with open(target, "rb") as written:
        assert written.read() == SECRET
    assert sorted(os.listdir(tmp_path)) == ["server.key"]  # no staged file left behind


def test_a_world_readable_file_made_secret_is_never_readable_with_the_new_content(ansible_module, file_events,
                                                                                  tmp_path, open_umask):
    target = tmp_path / "htpasswd"
    target.write_bytes(b"old:content\n")
    target.chmod(0o644)
    files = Files(ansible_module())

    with file_events(tmp_path) as events:
        assert files.file(str(target), b"admin:$2y$05$secret\n", 0o600, secret=True)

    _assert_never_more_open(events, str(target), 0o600)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_an_unchanged_file_is_not_written_again_and_check_mode_writes_nothing(ansible_module, tmp_path, open_umask):
    target = tmp_path / "config.yml"
    Files(ansible_module()).file(str(target), b"version: 0.1\n", 0o600, secret=True)
    before = target.stat()

    again = Files(ansible_module())
    assert not again.file(str(target), b"version: 0.1\n", 0o600, secret=True)
    assert target.stat().st_ino == before.st_ino

    predicted = Files(ansible_module(check_mode=True))
    assert predicted.file(str(target), b"version: 0.2\n", 0o600, secret=True)
    assert target.read_bytes() == b"version: 0.1\n"
    assert predicted.diffs[0]["after"] == "(13 bytes, not shown)"


# Credentials never in a diff


UNTOUCHED = ('[plugins."cri".registry.configs."r".auth]\nconfig_path = "/etc/containerd/certs.d"\n"auths": {}\n'
             '"registry-mirrors": ["https://m.example.test:5001"]\nauth_file = "/x"\n')


@pytest.mark.parametrize(("text", "shown"), [
    ('{"proxies": {"http-proxy": "http://bob:hunter2@proxy:3128"}}',  # daemon.json
     '{"proxies": {"http-proxy": "http://<redacted>@proxy:3128"}}'),
    ('{"auths": {"r:5000": {"auth": "Ym9iOmh1bnRlcjI=", "identitytoken": "t\\"k"}}}',  # a Docker client config
     '{"auths": {"r:5000": {"auth": "<redacted>", "identitytoken": "<redacted>"}}}'),
    ('  username = "bob"\n  password = "hunter2"\n  auth = \'Ym9i\'\n',  # containerd's CRI registry auth
     '  username = "bob"\n  password = "<redacted>"\n  auth = \'<redacted>\'\n'),
    ('auth = { username = "bob", password = "hunter2" }', 'auth = { username = "bob", password = "<redacted>" }'),
    ('[[registry]]\nlocation = "r.example.test:5000"\n[[registry.mirror]]\nlocation = "https://bob:hunter2@m:5001"\n',
     '[[registry]]\nlocation = "r.example.test:5000"\n[[registry.mirror]]\nlocation = "https://<redacted>@m:5001"\n'),
    ("http:\n  secret: hunter2\n", "http:\n  secret: <redacted>\n"),
    # Nothing else is touched: table names, keys that merely contain a secret word, URLs without a user.
    (UNTOUCHED, UNTOUCHED),
])
def test_redact_hides_credentials_and_nothing_else(text, shown):
    assert redact(text) == shown


def test_the_production_writer_shows_no_credential_in_the_diff(ansible_module, tmp_path):
    target = tmp_path / "config.toml"
    target.write_bytes(b'[plugins."cri".registry.configs."r".auth]\n  password = "old-secret"\n')
    files = Files(ansible_module(check_mode=True))

    files.file(str(target), b'[plugins."cri".registry.configs."r".auth]\n  password = "new-secret"\n', 0o644)

    [diff] = files.diffs
    assert "secret" not in diff["before"] + diff["after"]
    assert diff["after"] == '[plugins."cri".registry.configs."r".auth]\n  password = "<redacted>"\n'
