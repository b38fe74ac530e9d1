"""containerd's trust planner: config.toml merged for every config version, byte for byte, hosts.toml per address.

config.toml is edited with the real tomlkit (the version Debian 12 packages, requirements-test.txt), on the files
containerd itself writes: ``containerd/config-default-1.6.toml`` is ``containerd config default`` of Debian 12's
containerd 1.6.20, ``containerd/config-default-1.7.toml`` that of Debian 13's containerd 1.7.24 (both unchanged), and
``containerd/config-version-3.toml`` a version 3 file written by hand in containerd 2.x's layout (it says so itself).
"""

import difflib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.dockyard.registry.plugins.module_utils._runtimes import containerd
from ansible_collections.dockyard.registry.plugins.module_utils._runtimes.plan import (
    MARKER,
    ClientCertificate,
    Filesystem,
    RuntimeConfigError,
    apply,
)
from ansible_collections.dockyard.registry.plugins.module_utils._runtimes.tomlfile import loads

FILES = Path(__file__).parent / "containerd"

ADDRESSES = ["192.0.2.10:5000", "registry.example.test:5000"]
CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
CERTS_D = "/etc/containerd/certs.d"
CONFIG = "/etc/containerd/config.toml"

# What Debian's containerd package installs.
DEBIAN_V2 = b"""version = 2

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "/etc/cni/net.d"
  [plugins."io.containerd.internal.v1.opt"]
    path = "/var/lib/containerd/opt"
"""
# containerd 2.x's `containerd config default`, cut down: single-quoted plugin IDs, the registry table present.
DEFAULT_V3 = b"""version = 3
root = '/var/lib/containerd'

[plugins]
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = 'overlayfs'

    [plugins.'io.containerd.cri.v1.images'.registry]

    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = 'registry.k8s.io/pause:3.10'
"""
# Docker's containerd.io package: no version (1), the CRI plugin disabled.
DOCKER_CONTAINERD_IO = b"""#   Copyright 2018-2022 Docker Inc.

disabled_plugins = ["cri"]
"""


def host(tmp_path, files):
    """A host root below ``tmp_path`` holding ``files`` (host path -> bytes)."""
    for path, content in files.items():
        real = tmp_path / path.lstrip("/")
        real.parent.mkdir(parents=True, exist_ok=True)
        real.write_bytes(content)
    return Filesystem(str(tmp_path))


def merged(content, version=None):
    return containerd.ContainerdConfig(content, CONFIG).with_config_path(CERTS_D)


def assert_only_added(before: bytes, after: bytes, added_lines: list):
    """Every line of ``before`` is in ``after``, in order, and what is new is exactly ``added_lines``."""
    remaining = after.decode().splitlines()
    for line in before.decode().splitlines():
        index = remaining.index(line)
        assert all(not extra.strip() or extra.strip() in added_lines for extra in remaining[:index]), remaining[:index]
        remaining = remaining[index + 1:]
    assert [line.strip() for line in after.decode().splitlines() if line.strip() and
            line not in before.decode().splitlines()] == added_lines


def test_debian_version_2_file_gets_the_registry_table_among_the_cri_tables():
    after = merged(DEBIAN_V2)

    assert_only_added(DEBIAN_V2, after, ['[plugins."io.containerd.grpc.v1.cri".registry]',
                                         'config_path = "/etc/containerd/certs.d"'])
    document = loads(after, CONFIG)
    assert document["plugins"]["io.containerd.grpc.v1.cri"]["registry"] == {"config_path": CERTS_D}
    assert document["plugins"]["io.containerd.internal.v1.opt"] == {"path": "/var/lib/containerd/opt"}
    # Placed as containerd's own dump places it: a sibling of cni, indented like it.
    assert '\n    [plugins."io.containerd.grpc.v1.cri".registry]\n      config_path = ' in after.decode()


def test_version_3_file_gets_the_key_under_its_existing_registry_table():
    after = merged(DEFAULT_V3)

    assert_only_added(DEFAULT_V3, after, ['config_path = "/etc/containerd/certs.d"'])
    lines = after.decode().splitlines()
    assert lines[lines.index("    [plugins.'io.containerd.cri.v1.images'.registry]") + 1] == \
        '      config_path = "/etc/containerd/certs.d"'
    assert loads(after, CONFIG)["plugins"]["io.containerd.cri.v1.images"]["registry"] == {"config_path": CERTS_D}


def test_file_without_version_is_version_1_and_uses_the_short_plugin_name():
    before = b'root = "/var/lib/containerd"\n\n[plugins.cri]\n  sandbox_image = "pause:3.6"\n'
    after = merged(before)

    document = loads(after, CONFIG)
    assert document["plugins"]["cri"] == {"sandbox_image": "pause:3.6", "registry": {"config_path": CERTS_D}}
    assert "version" not in document
    assert after.startswith(before)


def changed_lines(before: bytes, after: bytes) -> list:
    """The lines a unified diff of ``before`` and ``after`` takes away (-) and adds (+)."""
    diff = difflib.unified_diff(before.decode().splitlines(), after.decode().splitlines(), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")]


@pytest.mark.parametrize(("name", "table", "old"), [
    ("config-default-1.6.toml", '[plugins."io.containerd.grpc.v1.cri".registry]', '      config_path = ""'),
    ("config-default-1.7.toml", '[plugins."io.containerd.grpc.v1.cri".registry]', '      config_path = ""'),
    ("config-version-3.toml", "[plugins.'io.containerd.cri.v1.images'.registry]", "      config_path = ''"),
])
def test_containerds_own_files_change_in_the_registry_tables_config_path_line_alone(tmp_path, name, table, old):
    before = (FILES / name).read_bytes()
    config = containerd.ContainerdConfig(before, CONFIG)

    after = config.with_config_path(CERTS_D)

    assert changed_lines(before, after) == [f"-{old}", '+      config_path = "/etc/containerd/certs.d"']
    lines = after.decode().splitlines()
    assert lines[lines.index(f"    {table}") + 1] == '      config_path = "/etc/containerd/certs.d"'
    expected = loads(before, CONFIG)
    plugin = expected["plugins"][config.registry_table[1]]
    plugin["registry"]["config_path"] = CERTS_D
    assert loads(after, CONFIG) == expected
    assert containerd.ContainerdConfig(after, CONFIG).config_path == CERTS_D


def test_the_transfer_services_config_path_is_not_the_registrys():
    before = (FILES / "config-default-1.7.toml").read_bytes()

    after = loads(merged(before), CONFIG)

    assert after["plugins"]["io.containerd.transfer.v1.local"]["config_path"] == ""
    assert after["plugins"]["io.containerd.grpc.v1.cri"]["registry"]["config_path"] == CERTS_D


def test_containerd_1_6s_default_file_is_merged_once_then_left_alone(tmp_path, plan_writer):
    fs = host(tmp_path, {CONFIG: (FILES / "config-default-1.6.toml").read_bytes()})

    first = containerd.plan(ADDRESSES, CA, "ca", "present", fs=fs, containerd_version=(1, 6, 20))
    apply(first, plan_writer(fs), lambda: {"method": "test"})
    second = containerd.plan(ADDRESSES, CA, "ca", "present", fs=fs, containerd_version=(1, 6, 20))

    assert first.restart and CONFIG in [operation.path for operation in first.pending]
    assert (second.pending, second.restart) == ([], False)


def test_empty_config_path_is_replaced_in_place_and_its_comment_kept():
    before = (b'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = ""  # none yet\n'
              b'[plugins."io.containerd.grpc.v1.cri".registry.headers]\n')
    after = merged(before)

    assert after == before.replace(b'config_path = ""', b'config_path = "/etc/containerd/certs.d"')


def test_registry_subtable_without_its_parent_gets_the_parent_right_before_it():
    before = (b'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry.headers]\n'
              b'  X-Site = ["a"]\n')
    after = merged(before)

    assert after == (b'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n'
                     b'  config_path = "/etc/containerd/certs.d"\n'
                     b'[plugins."io.containerd.grpc.v1.cri".registry.headers]\n  X-Site = ["a"]\n')


def test_crlf_line_endings_are_kept_and_a_missing_final_newline_is_added():
    before = b'version = 2\r\n[plugins."io.containerd.grpc.v1.cri"]\r\n  sandbox_image = "pause"'
    after = merged(before)

    assert after.startswith(b'version = 2\r\n[plugins."io.containerd.grpc.v1.cri"]\r\n  sandbox_image = "pause"\r\n')
    assert b"\n" not in after.replace(b"\r\n", b"")
    assert loads(after, CONFIG)["plugins"]["io.containerd.grpc.v1.cri"]["registry"] == {"config_path": CERTS_D}


def test_multiline_values_that_look_like_headers_are_not_taken_for_tables():
    before = b'''version = 2
[plugins."io.containerd.grpc.v1.cri"]
  notes = """
[plugins."io.containerd.grpc.v1.cri".registry]
config_path = "not a key"
"""
  matrix = [
    [1, 2], # [not.a.table]
    ['[x]', "]"],
  ]
'''
    after = merged(before)

    document = loads(after, CONFIG)
    assert document["plugins"]["io.containerd.grpc.v1.cri"]["registry"] == {"config_path": CERTS_D}
    assert document["plugins"]["io.containerd.grpc.v1.cri"]["matrix"] == [[1, 2], ["[x]", "]"]]
    assert after.startswith(before)


def test_registry_defined_inline_gets_the_key_inside_its_braces():
    before = b'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n  registry = { headers = {} }\n'

    after = merged(before)

    assert after.startswith(b'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n  registry = {')
    registry = loads(after, CONFIG)["plugins"]["io.containerd.grpc.v1.cri"]["registry"]
    assert registry == {"headers": {}, "config_path": CERTS_D}


def test_an_edit_that_does_not_parse_back_as_intended_is_refused():
    # tomlkit writes `registry = config_path = ...` into an inline CRI table: not TOML, so nothing is written.
    before = b'version = 2\n[plugins]\n  "io.containerd.grpc.v1.cri" = { sandbox_image = "pause:3.6" }\n'

    with pytest.raises(RuntimeConfigError, match=r"config_path cannot be added to \[plugins\.\"io\.containerd\.grpc\.v1"
                                                 r"\.cri\"\.registry\] .* add config_path = \"/etc/containerd"
                                                 r"/certs.d\" there by hand"):
        merged(before)


@pytest.mark.parametrize("before", [
    b'version = 2\n[[plugins."io.containerd.grpc.v1.cri".registry]]\n',
    b'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n  registry = "elsewhere"\n',
], ids=["array-of-tables", "string"])
def test_a_registry_that_is_no_table_is_refused(before):
    with pytest.raises(RuntimeConfigError, match=r"config_path cannot be added to "):
        merged(before)


def test_tables_out_of_order_get_the_key_or_are_refused_but_never_lose_it():
    # tomlkit 0.11 (Debian 12) drops a key set in a table split by another; 0.13 (Debian 13) sets it.
    before = (b'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry.mirrors]\n[plugins.other]\n  a = 1\n'
              b'[plugins."io.containerd.grpc.v1.cri".registry.headers]\n  b = ["c"]\n')
    try:
        after = merged(before)
    except RuntimeConfigError as refused:
        assert "add config_path" in str(refused)
    else:
        assert loads(after, CONFIG)["plugins"]["io.containerd.grpc.v1.cri"]["registry"]["config_path"] == CERTS_D


def test_unparseable_config_names_the_file_and_the_line_and_changes_nothing(tmp_path):
    broken = DEBIAN_V2.replace(b'bin_dir = "/usr/lib/cni"', b'bin_dir = "/usr/lib/cni')
    fs = host(tmp_path, {CONFIG: broken})

    with pytest.raises(RuntimeConfigError, match=r"^/etc/containerd/config.toml is not valid TOML: line 6, column \d+"):
        containerd.plan(ADDRESSES, CA, "ca", "present", fs=fs, containerd_version=(1, 6, 20))
    assert (tmp_path / "etc/containerd/config.toml").read_bytes() == broken
    assert not (tmp_path / "etc/containerd/certs.d").exists()


def test_unknown_config_version_is_refused():
    with pytest.raises(RuntimeConfigError, match="version = 4 is not a config.toml version"):
        containerd.ContainerdConfig(b"version = 4\n", CONFIG)


def test_mirrors_beside_a_new_config_path_are_refused_naming_their_table(tmp_path):
    content = DEBIAN_V2 + (b'    [plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]\n'
                           b'      endpoint = ["https://mirror.example.test"]\n')
    fs = host(tmp_path, {CONFIG: content})

    with pytest.raises(RuntimeConfigError, match=r"config.toml: plugins\.\"io\.containerd\.grpc\.v1\.cri\"\.registry\.mirrors: "
                                                 r"`mirrors` cannot be set when `config_path` is provided .* Move those "
                                                 r"settings into hosts.toml files"):
        containerd.plan(ADDRESSES, CA, "ca", "present", fs=fs, containerd_version="containerd x 1.6.20")


def test_empty_mirrors_tables_as_containerd_dumps_them_are_no_conflict(tmp_path):
    content = (b'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = ""\n'
               b'  [plugins."io.containerd.grpc.v1.cri".registry.mirrors]\n')
    fs = host(tmp_path, {CONFIG: content})

    result = containerd.plan(ADDRESSES, CA, "ca", "present", fs=fs, containerd_version=(1, 6, 20))

    assert result.restart and result.operations[0].path == CONFIG


@pytest.fixture
def plan_and_apply(plan_writer):
    """``plan_and_apply(fs, ...)``: the plan, what performing it through the module's writer changed, the restarts."""
    def perform(fs, *args, **kwargs):
        result = containerd.plan(*args, fs=fs, **kwargs)
        restarts = []
        outcome = apply(result, plan_writer(fs), lambda: restarts.append(1) or {"method": "test"})
        return result, outcome, restarts
    return perform


def test_ca_mode_writes_hosts_toml_and_ca_per_address_merges_config_and_asks_for_one_restart(tmp_path, plan_and_apply):
    fs = host(tmp_path, {CONFIG: DEBIAN_V2})

    result, outcome, restarts = plan_and_apply(fs, ADDRESSES, CA, "ca", "present",
                                               containerd_version="containerd github.com/containerd/containerd "
                                                                  "1.6.20~ds1 1.6.20~ds1-1+deb12u3")

    assert outcome["changed"] and restarts == [1] and outcome["restarted"] == {"method": "test"}
    assert result.found["hosts_dir"] == CERTS_D and result.found["containerd_version"] == "1.6.20"
    for address in ADDRESSES:
        directory = tmp_path / "etc/containerd/certs.d" / address
        assert (directory / "ca.crt").read_text() == CA
        hosts = loads((directory / "hosts.toml").read_bytes(), "hosts.toml")
        assert hosts == {"server": f"https://{address}",
                         "host": {f"https://{address}": {"capabilities": ["pull", "resolve", "push"],
                                                         "ca": [f"{CERTS_D}/{address}/ca.crt"]}}}
        assert stat.S_IMODE(os.stat(directory / "hosts.toml").st_mode) == 0o644
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o755
    assert len(list((tmp_path / "etc/containerd").glob("config.toml.*~"))) == 1  # the backup

    again, second, restarts_again = plan_and_apply(fs, ADDRESSES, CA, "ca", "present", containerd_version=(1, 6, 20))
    assert (again.pending, second["changed"], restarts_again) == ([], False, [])


def test_hosts_toml_changes_alone_need_no_restart(tmp_path, plan_and_apply):
    fs = host(tmp_path, {CONFIG: merged(DEBIAN_V2)})

    result, outcome, restarts = plan_and_apply(fs, ADDRESSES, CA, "ca", "present", containerd_version=(1, 6, 20))

    assert outcome["changed"] and not result.restart and restarts == []


def test_config_path_set_elsewhere_is_used_and_config_toml_left_alone(tmp_path, plan_and_apply):
    content = b'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/srv/hosts:/etc/x"\n'
    fs = host(tmp_path, {CONFIG: content})

    result, _outcome, restarts = plan_and_apply(fs, ADDRESSES[:1], CA, "ca", "present", containerd_version=(1, 6, 20))

    assert result.found["hosts_dir"] == "/srv/hosts" and restarts == []
    assert (tmp_path / "srv/hosts/192.0.2.10:5000/hosts.toml").is_file()
    assert (tmp_path / "etc/containerd/config.toml").read_bytes() == content


def test_missing_config_toml_on_containerd_1_gets_a_minimal_version_2_file(tmp_path, plan_and_apply):
    fs = Filesystem(str(tmp_path))

    _result, _outcome, restarts = plan_and_apply(fs, ADDRESSES[:1], CA, "ca", "present", containerd_version=(1, 7, 2))

    written = (tmp_path / "etc/containerd/config.toml").read_bytes()
    assert written.startswith(MARKER.encode()) and restarts == [1]
    assert loads(written, CONFIG) == {"version": 2, "plugins": {"io.containerd.grpc.v1.cri": {
        "registry": {"config_path": CERTS_D}}}}


def test_containerd_2_reads_certs_d_by_default_so_nothing_is_merged(tmp_path):
    fs = host(tmp_path, {CONFIG: DEFAULT_V3})

    result = containerd.plan(ADDRESSES, CA, "ca", "present", fs=fs, containerd_version="containerd containerd.io v2.1.4 x")

    assert not result.restart and CONFIG not in [op.path for op in result.operations]
    assert result.found["hosts_dir"] == CERTS_D
    missing = containerd.plan(ADDRESSES, CA, "ca", "present", fs=Filesystem(str(tmp_path / "bare")),
                              containerd_version=(2, 0, 0))
    assert not missing.restart and all("config.toml" not in op.path for op in missing.operations)


def test_cri_disabled_leaves_config_toml_and_says_so(tmp_path):
    fs = host(tmp_path, {CONFIG: DOCKER_CONTAINERD_IO})

    result = containerd.plan(ADDRESSES, CA, "ca", "present", fs=fs, containerd_version=(1, 7, 27))

    assert not result.restart and result.found["cri_enabled"] is False
    assert "disables the CRI plugin" in result.warnings[0]
    assert {op.path for op in result.operations} >= {f"{CERTS_D}/{ADDRESSES[0]}/hosts.toml"}


def test_insecure_mode_skips_verification_over_tls_and_speaks_http_without_it(tmp_path, plan_and_apply):
    fs = host(tmp_path, {CONFIG: merged(DEBIAN_V2)})
    plan_and_apply(fs, ADDRESSES[:1], CA, "ca", "present", containerd_version=(1, 6, 20))

    plan_and_apply(fs, ADDRESSES[:1], None, "insecure", "present", containerd_version=(1, 6, 20))

    directory = tmp_path / "etc/containerd/certs.d/192.0.2.10:5000"
    assert not (directory / "ca.crt").exists()
    assert loads((directory / "hosts.toml").read_bytes(), "h")["host"] == {
        "https://192.0.2.10:5000": {"capabilities": ["pull", "resolve", "push"], "skip_verify": True}}
    plain = loads(containerd.hosts_toml("192.0.2.10:5000", "insecure", tls=False), "h")
    assert plain == {"server": "http://192.0.2.10:5000",
                     "host": {"http://192.0.2.10:5000": {"capabilities": ["pull", "resolve", "push"]}}}


def test_absent_removes_files_and_emptied_directories_but_keeps_config_toml(tmp_path, plan_and_apply):
    fs = host(tmp_path, {CONFIG: DEBIAN_V2})
    plan_and_apply(fs, ADDRESSES, CA, "ca", "present", containerd_version=(1, 6, 20))
    config_after_present = (tmp_path / "etc/containerd/config.toml").read_bytes()
    (tmp_path / "etc/containerd/certs.d" / ADDRESSES[1] / "client.cert").write_text("operator's")

    _result, outcome, restarts = plan_and_apply(fs, ADDRESSES, None, "ca", "absent", containerd_version=(1, 6, 20))

    assert outcome["changed"] and restarts == []
    assert not (tmp_path / "etc/containerd/certs.d" / ADDRESSES[0]).exists()
    assert sorted(os.listdir(tmp_path / "etc/containerd/certs.d" / ADDRESSES[1])) == ["client.cert"]
    assert (tmp_path / "etc/containerd/config.toml").read_bytes() == config_after_present
    assert containerd.plan(ADDRESSES, None, "ca", "absent", fs=fs, containerd_version=(1, 6, 20)).pending == []


def test_a_hosts_toml_of_someone_else_is_replaced_with_a_warning_but_never_removed(tmp_path):
    theirs = b'server = "https://mirror.example.test"\n'
    fs = host(tmp_path, {CONFIG: merged(DEBIAN_V2), f"{CERTS_D}/{ADDRESSES[0]}/hosts.toml": theirs})

    absent = containerd.plan(ADDRESSES[:1], None, "ca", "absent", fs=fs, containerd_version=(1, 6, 20))
    present = containerd.plan(ADDRESSES[:1], CA, "ca", "present", fs=fs, containerd_version=(1, 6, 20))

    assert absent.pending == [] and "left in place" in absent.warnings[0]
    assert "replaced (see the diff)" in present.warnings[0]
    hosts_op = next(op for op in present.pending if op.path.endswith("hosts.toml"))
    assert hosts_op.diff()["before"] == theirs.decode()


def test_check_mode_is_the_plan_alone(tmp_path):
    fs = host(tmp_path, {CONFIG: DEBIAN_V2})

    result = containerd.plan(ADDRESSES, CA, "ca", "present", fs=fs, containerd_version=(1, 6, 20))

    assert result.changed and result.summary()["restart"] is True
    assert (tmp_path / "etc/containerd/config.toml").read_bytes() == DEBIAN_V2
    assert not (tmp_path / "etc/containerd/certs.d").exists()
    assert [d["after_header"] for d in [op.diff() for op in result.pending]][:2] == [CONFIG, f"{CERTS_D}/{ADDRESSES[0]}"]


@pytest.mark.parametrize("address", ["../etc", "a/b:5000", "host:99999", "", "reg istry:5000", "[::1", "x:5000/v2",
                                     # the planners' own check took these, which no image reference names
                                     "reg_istry:5000", "registry.:5000", "1.2.3:5000", "[:::]:5000", "[1.2.3.4]:5000",
                                     "-registry:5000", "host:0"])
def test_addresses_that_are_not_host_port_are_refused(address):
    with pytest.raises(ValueError, match="is not host:port|no registry address"):
        containerd.plan([address], CA, "ca", "present", fs=Filesystem("/nonexistent"))


def test_ca_mode_needs_tls_and_a_ca():
    with pytest.raises(ValueError, match="plain HTTP .* only be trusted in insecure mode"):
        containerd.plan(ADDRESSES, CA, "ca", "present", tls=False, fs=Filesystem("/nonexistent"))
    with pytest.raises(ValueError, match="needs the registry's CA certificate"):
        containerd.plan(ADDRESSES, None, "ca", "present", fs=Filesystem("/nonexistent"), containerd_version=(2, 0))


def test_trust_report_names_the_file_read_and_whether_it_verifies(tmp_path, plan_and_apply):
    fs = host(tmp_path, {CONFIG: DEBIAN_V2})
    before = containerd.trust_report(ADDRESSES[0], fs, containerd_version=(1, 6, 20))
    plan_and_apply(fs, ADDRESSES[:1], None, "insecure", "present", containerd_version=(1, 6, 20))

    after = containerd.trust_report(ADDRESSES[0], fs, containerd_version=(1, 6, 20))

    assert (before["reads"], before["verifies"], before["cri_reads_hosts_dir"]) == ([], True, False)
    assert after == {"runtime": "containerd", "cri_reads_hosts_dir": True,
                     "hosts_dir": f"{CERTS_D}/{ADDRESSES[0]}", "reads": [f"{CERTS_D}/{ADDRESSES[0]}/hosts.toml"],
                     "verifies": False, "ca": None}


MIRROR = "mirror.example.test:5001"


def test_mirrors_get_their_own_trust_and_docker_io_pulls_go_to_them_first(tmp_path, plan_and_apply):
    fs = host(tmp_path, {CONFIG: merged(DEBIAN_V2)})

    plan_and_apply(fs, ADDRESSES[:1], CA, "ca", "present", containerd_version=(1, 6, 20), mirrors=[MIRROR])

    assert (tmp_path / "etc/containerd/certs.d" / MIRROR / "ca.crt").read_text() == CA
    hub = loads((tmp_path / "etc/containerd/certs.d/docker.io/hosts.toml").read_bytes(), "hosts.toml")
    assert hub == {"server": "https://registry-1.docker.io",
                   "host": {f"https://{MIRROR}": {"capabilities": ["pull", "resolve"],
                                                  "ca": [f"{CERTS_D}/{MIRROR}/ca.crt"]}}}
    assert containerd.plan(ADDRESSES[:1], CA, "ca", "present", fs=fs, containerd_version=(1, 6, 20),
                           mirrors=[MIRROR]).pending == []

    plan_and_apply(fs, ADDRESSES[:1], None, "insecure", "present", containerd_version=(1, 6, 20), mirrors=[MIRROR])
    assert loads((tmp_path / "etc/containerd/certs.d/docker.io/hosts.toml").read_bytes(), "h")["host"] == {
        f"https://{MIRROR}": {"capabilities": ["pull", "resolve"], "skip_verify": True}}
    assert not (tmp_path / "etc/containerd/certs.d" / MIRROR / "ca.crt").exists()


CLIENT = ClientCertificate(b"-----BEGIN CERTIFICATE-----\nclient\n-----END CERTIFICATE-----\n",
                           b"-----BEGIN PRIVATE KEY-----\nsecret key\n-----END PRIVATE KEY-----\n")


def test_the_mirrors_client_certificate_is_in_hosts_toml_its_key_0400_never_shown_and_removed_again(
        tmp_path, plan_and_apply):
    fs = host(tmp_path, {CONFIG: merged(DEBIAN_V2)})

    result, _outcome, _restarts = plan_and_apply(fs, ADDRESSES[:1], CA, "ca", "present", containerd_version=(1, 6, 20),
                                                 mirrors=[MIRROR], mirror_client=CLIENT)

    directory = tmp_path / "etc/containerd/certs.d" / MIRROR
    client = [f"{CERTS_D}/{MIRROR}/client.cert", f"{CERTS_D}/{MIRROR}/client.key"]
    assert (directory / "client.cert").read_bytes() == CLIENT.certificate
    assert (directory / "client.key").read_bytes() == CLIENT.key
    assert stat.S_IMODE((directory / "client.key").stat().st_mode) == 0o400
    hub = loads((tmp_path / "etc/containerd/certs.d/docker.io/hosts.toml").read_bytes(), "hosts.toml")
    assert hub["host"][f"https://{MIRROR}"]["client"] == [client]
    assert loads((directory / "hosts.toml").read_bytes(), "hosts.toml")["host"][f"https://{MIRROR}"]["client"] == [client]
    assert "secret key" not in json.dumps([op.diff() for op in result.operations])
    # The registry's own directory gets no client certificate.
    assert not (tmp_path / "etc/containerd/certs.d" / ADDRESSES[0] / "client.key").exists()
    assert containerd.plan(ADDRESSES[:1], CA, "ca", "present", fs=fs, containerd_version=(1, 6, 20),
                           mirrors=[MIRROR], mirror_client=CLIENT).pending == []

    gone, outcome, _restarts = plan_and_apply(fs, ADDRESSES[:1], None, "ca", "absent", containerd_version=(1, 6, 20),
                                              mirrors=[MIRROR], mirror_client=ClientCertificate(b"", b""))
    assert outcome["changed"] and not directory.exists()
    assert "secret key" not in json.dumps([op.diff() for op in gone.operations])


def test_mirrors_dropped_take_docker_io_hosts_toml_with_them_but_never_someone_elses(tmp_path, plan_and_apply):
    fs = host(tmp_path, {CONFIG: merged(DEBIAN_V2)})
    plan_and_apply(fs, ADDRESSES[:1], CA, "ca", "present", containerd_version=(1, 6, 20), mirrors=[MIRROR])

    plan_and_apply(fs, ADDRESSES[:1], CA, "ca", "present", containerd_version=(1, 6, 20))

    assert not (tmp_path / "etc/containerd/certs.d/docker.io").exists()
    theirs = b'server = "https://registry-1.docker.io"\n'
    (tmp_path / "etc/containerd/certs.d/docker.io").mkdir()
    (tmp_path / "etc/containerd/certs.d/docker.io/hosts.toml").write_bytes(theirs)
    assert containerd.plan(ADDRESSES[:1], CA, "ca", "present", fs=fs, containerd_version=(1, 6, 20)).pending == []
    replaced = containerd.plan(ADDRESSES[:1], CA, "ca", "present", fs=fs, containerd_version=(1, 6, 20),
                               mirrors=[MIRROR])
    assert any("docker.io/hosts.toml was not written by dockyard.registry" in w for w in replaced.warnings)

    _result, outcome, _restarts = plan_and_apply(fs, ADDRESSES[:1], None, "ca", "absent", containerd_version=(1, 6, 20),
                                                 mirrors=[MIRROR])
    assert outcome["changed"] and not (tmp_path / "etc/containerd/certs.d" / MIRROR).exists()
    assert (tmp_path / "etc/containerd/certs.d/docker.io/hosts.toml").read_bytes() == theirs


def test_in_check_mode_the_modules_writer_reports_each_change_and_makes_none(tmp_path, plan_writer):
    fs = host(tmp_path, {CONFIG: DEBIAN_V2})
    result = containerd.plan(ADDRESSES, CA, "ca", "present", fs=fs, containerd_version=(1, 6, 20))
    writer = plan_writer(fs, check_mode=True)

    outcome = apply(result, writer)

    assert outcome["changed"] and outcome["restart_needed"]
    assert writer.files.changed_paths == [fs.real(operation.path) for operation in result.pending]
    assert writer.backups == []
    assert sorted(path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*")) == [
        "etc", "etc/containerd", "etc/containerd/config.toml"]
    assert fs.read(CONFIG) == DEBIAN_V2


# Credentials in config.toml: never in the diff, and a backup only root can read

CRI_AUTH = (b'    [plugins."io.containerd.grpc.v1.cri".registry.configs."private.example.test:5000".auth]\n'
            b'      username = "puller"\n      password = "hunter2"\n      identitytoken = "token-of-puller"\n'
            b'      auth = "cHVsbGVyOmh1bnRlcjI="\n')


def test_the_diff_of_config_toml_hides_registry_credentials_and_the_backup_is_0600(tmp_path, plan_writer):
    fs = host(tmp_path, {CONFIG: DEBIAN_V2 + CRI_AUTH})
    os.chmod(fs.real(CONFIG), 0o644)
    result = containerd.plan(ADDRESSES, CA, "ca", "present", fs=fs, containerd_version=(1, 6, 20))
    writer = plan_writer(fs)

    outcome = apply(result, writer, lambda: {"method": "test"})

    config_diff = next(entry for entry in outcome["diff"] if entry["before_header"] == CONFIG)
    shown = config_diff["before"] + config_diff["after"]
    assert "hunter2" not in shown and "token-of-puller" not in shown and "cHVsbGVyOmh1bnRlcjI=" not in shown
    assert 'password = "<redacted>"' in config_diff["before"] and 'password = "<redacted>"' in config_diff["after"]
    assert 'username = "puller"' in config_diff["after"]
    [backup] = writer.backups
    assert stat.S_IMODE(os.stat(backup).st_mode) == 0o600
    assert fs.read(backup.removeprefix(str(tmp_path))) == DEBIAN_V2 + CRI_AUTH
    assert b'password = "hunter2"' in fs.read(CONFIG)  # the file itself keeps them, of course
    assert stat.S_IMODE(os.stat(fs.real(CONFIG)).st_mode) == 0o644


WITHOUT_TOMLKIT = r"""
import sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.dockyard.registry.plugins.module_utils._runtimes import containerd, plan, tomlfile
assert tomlfile.tomlkit is None
fs = plan.Filesystem(sys.argv[2])
kept = containerd.plan(["192.0.2.10:5000"], "CA", "ca", "present", fs=fs, containerd_version=(1, 6, 20),
                       config_file="/kept.toml")
print(len(kept.operations), kept.restart)
try:
    containerd.plan(["192.0.2.10:5000"], "CA", "ca", "present", fs=fs, containerd_version=(1, 6, 20))
except plan.RuntimeConfigError as exc:
    print(exc)
"""


def test_a_host_without_tomlkit_is_told_to_install_it_only_where_config_toml_must_change(tmp_path):
    host(tmp_path, {CONFIG: DEBIAN_V2,
                    "/kept.toml": b'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/x"\n'})
    collections = Path(__file__).resolve().parents[4] / ".collections"

    # -S: the interpreter without site-packages, where the virtualenv's tomlkit is, as on a host without python3-tomlkit
    # (-I: nor PYTHONPATH).
    done = subprocess.run([sys.executable, "-I", "-S", "-c", WITHOUT_TOMLKIT, str(collections), str(tmp_path)],
                          capture_output=True, text=True, check=False)

    assert done.returncode == 0, done.stderr
    kept, refused = done.stdout.splitlines()
    assert kept == "3 False"
    assert refused.startswith("/etc/containerd/config.toml must change, and editing it needs the Python library "
                              "tomlkit on the host: install the OS package python3-tomlkit")
    assert (tmp_path / "etc/containerd/config.toml").read_bytes() == DEBIAN_V2
