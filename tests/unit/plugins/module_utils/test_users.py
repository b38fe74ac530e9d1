"""Owners and groups by name or by numeric id, as every writer of the collection takes them."""

import grp
import os
import pwd

import pytest

from ansible_collections.dockyard.registry.plugins.module_utils._runtimes.plan import (
    Filesystem,
    file_operation,
)
from ansible_collections.dockyard.registry.plugins.module_utils._users import (
    gid,
    primary_group,
    uid,
    user_exists,
)

NOBODY = pwd.getpwuid(65534)  # nobody, in every Debian


def test_names_and_numeric_ids_give_the_same_ids():
    assert uid(NOBODY.pw_name) == uid(str(NOBODY.pw_uid)) == uid(NOBODY.pw_uid) == 65534
    group = grp.getgrgid(NOBODY.pw_gid).gr_name
    assert gid(group) == gid(str(NOBODY.pw_gid)) == gid(NOBODY.pw_gid) == NOBODY.pw_gid


def test_a_numeric_id_no_account_has_is_the_id_itself():
    """A container's user (registry_uid 10001) owns files on a host that has no account for it."""
    assert uid("10001") == 10001 and gid("10001") == 10001


def test_an_unknown_name_is_a_key_error():
    with pytest.raises(KeyError):
        uid("dockyard-no-such-user")
    with pytest.raises(KeyError):
        gid("dockyard-no-such-group")
    with pytest.raises(KeyError):
        uid("²")  # a digit to str.isdigit, no number to int()


def test_a_user_not_made_yet_is_its_own_group():
    assert primary_group("dockyard-no-such-user") == "dockyard-no-such-user"
    assert primary_group(NOBODY.pw_name) == grp.getgrgid(NOBODY.pw_gid).gr_name
    assert primary_group("0") == grp.getgrgid(0).gr_name


def test_user_exists_by_name_and_by_id():
    assert user_exists("root") and user_exists("0") and user_exists(0)
    assert not user_exists("dockyard-no-such-user")


def test_a_runtime_file_owned_by_numeric_ids_is_unchanged_when_they_match(tmp_path, plan_writer):
    """The runtimes' planner took names only (getpwnam('0') is a KeyError) where the module's writer took ids too."""
    (tmp_path / "etc").mkdir()
    fs = Filesystem(str(tmp_path))
    operation = file_operation(fs, "/etc/example.conf", b"x\n", 0o644,
                               owner=str(os.geteuid()), group=str(os.getegid()))
    assert operation.changes
    plan_writer(fs)(operation)
    again = file_operation(fs, "/etc/example.conf", b"x\n", 0o644, owner=str(os.geteuid()), group=str(os.getegid()))
    assert not again.changes
    assert (tmp_path / "etc" / "example.conf").stat().st_uid == os.geteuid()
