"""What the service helper writes for a program that runs as a user of its own, and what it refuses."""

import os
import pwd
import shlex

import pytest

from ansible_collections.dockyard.registry.plugins.module_utils._service import Service, ServiceError
from ansible_collections.dockyard.registry.plugins.module_utils._users import primary_group


class CheckModeFiles:
    """Enough of Files for what Service asks before it changes anything."""

    check_mode = True


def service(tmp_path, argv=("/usr/local/bin/weed", "server", "-ip=10.0.3.1"), **options):
    return Service(CheckModeFiles(), None, "dockyard-test", list(argv), description="Test", log=str(tmp_path / "log"),
                   state_dir=str(tmp_path), manager="direct", **options)


def test_the_supervisor_starts_the_program_as_the_user_and_stays_root(tmp_path):
    user = pwd.getpwuid(65534).pw_name  # nobody, in every Debian
    script = service(tmp_path, user=user)._supervisor_script()
    command = next(line.strip() for line in script.splitlines() if line.strip().endswith(" &"))
    assert shlex.split(command[:-1]) == ["setpriv", f"--reuid={user}", f"--regid={primary_group(user)}", "--init-groups",
                                         "--no-new-privs", "/usr/local/bin/weed", "server", "-ip=10.0.3.1"]


def test_without_a_user_the_program_runs_as_it_did(tmp_path):
    script = service(tmp_path)._supervisor_script()
    assert "setpriv" not in script and "  /usr/local/bin/weed server -ip=10.0.3.1 &" in script


def test_the_unit_names_the_user_and_its_group(tmp_path):
    user = pwd.getpwuid(65534).pw_name
    unit = service(tmp_path, user=user)._unit()
    assert f"User={user}\nGroup={primary_group(user)}\nNoNewPrivileges=yes\n" in unit
    assert "ExecStart=/usr/local/bin/weed server -ip=10.0.3.1\n" in unit
    assert "User=" not in service(tmp_path)._unit()


@pytest.mark.parametrize("argument", ["-rack=r1\nExecStartPre=/bin/sh", "-rack=r1\rx", "-dataCenter=\x1b"])
def test_a_control_character_in_the_command_line_is_refused_before_anything_is_written(tmp_path, argument):
    with pytest.raises(ServiceError, match="control character"):
        service(tmp_path, argv=["/usr/local/bin/weed", "server", argument])
    assert not os.listdir(tmp_path)
