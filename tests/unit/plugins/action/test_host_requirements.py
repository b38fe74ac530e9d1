"""host_requirements: the script the host runs (run here, with this machine's interpreters) and what the controller
makes of its answer."""

from __future__ import annotations

import json
import subprocess
import sys

import cryptography
import pytest

from ansible_collections.dockyard.registry.plugins.action.host_requirements import (
    outcome,
    refusal,
    survey_request,
    survey_source,
)


def ask(interpreter: str, libraries=(), docker_libraries=(), docker_socket=None, extra=()) -> dict:
    """What the script prints on this machine for the action's request (plus ``extra`` distributions)."""
    request = survey_request(list(libraries), list(docker_libraries), docker_socket)
    request["distributions"] += list(extra)
    answer = subprocess.run([interpreter, "-c", survey_source(), json.dumps(request)], capture_output=True, text=True,
                            check=True)
    return json.loads(answer.stdout)


def test_the_script_reads_versions_without_importing_the_libraries():
    found = ask(sys.executable, libraries=["cryptography"], extra=["no-such-distribution"])
    assert found["interpreter"] == sys.executable
    assert found["python"] == list(sys.version_info[:2])
    assert found["versions"]["no-such-distribution"] is None
    assert found["versions"]["cryptography"] == cryptography.__version__, "the version the library itself reports"
    assert found["package_manager"] == "apt"
    assert "docker_answers" not in found


def test_the_script_runs_with_the_system_python_and_asks_the_docker_socket(tmp_path):
    found = ask("/usr/bin/python3", libraries=["cryptography"], docker_libraries=["docker"],
                docker_socket=str(tmp_path / "none.sock"))
    assert found["interpreter"] == "/usr/bin/python3"
    assert found["os_packages_visible"] is True
    assert found["docker_answers"] is False, "no daemon listens on a socket that does not exist"
    assert set(found["versions"]) == ({"cryptography", "docker"} if found["has_docker"] else {"cryptography"})


def answer(**versions) -> dict:
    return {"interpreter": "/usr/bin/python3", "python": [3, 11], "versions": versions, "has_docker": True,
            "package_manager": "apt", "os_packages_visible": True}


def test_the_outcome_names_what_is_missing_or_too_old_and_its_packages():
    report = outcome(answer(cryptography="2.8", requests="2.28.1", docker=None))
    assert report["missing"] == ["cryptography", "docker"]
    assert report["packages"] == ["python3-cryptography", "python3-docker"]
    assert report["found"] == {"cryptography": "2.8", "requests": "2.28.1", "docker": None}
    assert report["problems"][0].startswith("cryptography 2.8 is older than 3.1")


@pytest.mark.parametrize(("change", "allowed", "says"), [
    ({}, True, None),
    ({}, False, "Install the OS packages python3-docker (apt), or set registry_install_requirements: true"),
    ({"package_manager": None}, True, "No package manager the collection knows was found there: install docker"),
    ({"os_packages_visible": False}, True, "a virtualenv that does not see the OS packages: install docker into it"),
])
def test_a_host_whose_libraries_cannot_be_installed_is_refused_naming_what_to_do(change, allowed, says):
    report = outcome({**answer(cryptography="41.0", docker=None), **change})
    why = refusal("node1", report, allowed)
    if says is None:
        assert why is None
    else:
        assert why.startswith("node1 lacks Python libraries that the collection's modules import with "
                              "/usr/bin/python3: docker is missing")
        assert says in why


def test_nothing_missing_is_never_refused():
    assert refusal("node1", outcome(answer(cryptography="41.0")), False) is None
