"""Trust can fail, and the suite sees it; and the registry's data outlives its container.

Runs after the fleet tests (molecule passes ../fleet/test_fleet.py first); the last test here replaces the
registry container and converges again, so it stays last.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import UNKNOWN_AUTHORITY, assert_pulls_by_digest, local_image_id, pull, run_ok, swapped_ca, wrong_ca_pem

REGISTRY_CONTAINER = "dockyard-registry"
FLEET_TESTS = Path(__file__).resolve().parent.parent / "fleet" / "test_fleet.py"


def assert_pull_refused_for_unknown_authority(fleet, address, pushed_image, what: str) -> None:
    host = fleet.host(fleet.puller)
    reference = pushed_image.by_digest(address)
    image_id = local_image_id(host, reference)
    if image_id:
        run_ok(host, "docker image rm --force %s", image_id)
    result = pull(host, reference)
    said = (result.stderr or result.stdout).strip()
    assert result.rc != 0, f"{fleet.puller}: `docker pull {reference}` through {address} succeeded with {what}"
    assert UNKNOWN_AUTHORITY in said, (
        f"{fleet.puller}: `docker pull {reference}` through {address} with {what} failed, but not for the "
        f"unknown authority; the daemon said: {said}")


def test_pull_fails_for_unknown_authority_when_the_ca_is_moved_away(fleet, pushed_image, address):
    with swapped_ca(fleet.host(fleet.puller), address, None):
        assert_pull_refused_for_unknown_authority(fleet, address, pushed_image, "the CA moved away")
    # Put back, the CA works again at once: Docker reads certs.d on every connection.
    assert_pulls_by_digest(fleet, fleet.puller, address, pushed_image)


def test_pull_fails_for_unknown_authority_with_a_wrong_ca(fleet, pushed_image, address):
    with swapped_ca(fleet.host(fleet.puller), address, wrong_ca_pem()):
        assert_pull_refused_for_unknown_authority(fleet, address, pushed_image, "a wrong CA of the same name")
    assert_pulls_by_digest(fleet, fleet.puller, address, pushed_image)


def test_the_pull_tests_fail_and_say_where_when_trust_is_broken(fleet):
    """The suite can fail: the fleet's pull tests, run with a wrong CA on the pulling host, fail for every
    address, and each failure names the host, the address and what the daemon said."""
    rootdir = os.environ.get("MOLECULE_PROJECT_DIRECTORY", os.getcwd())
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--tb=line", "-q", "--rootdir", rootdir,
         f"{FLEET_TESTS}::test_pushed_image_pulls_by_digest_on_another_host_through_every_address"],
        check=False, capture_output=True, text=True, timeout=600,
        env={**os.environ, "DOCKYARD_MOLECULE_WRONG_CA": "1"})
    output = run.stdout + run.stderr
    assert run.returncode == 1, f"pytest exited {run.returncode} with a wrong CA on {fleet.puller}:\n{output[-4000:]}"
    assert f"{len(fleet.addresses)} failed" in output, output[-4000:]
    for address in fleet.addresses:
        line = next((line for line in output.splitlines() if f"through {address} failed" in line), "")
        assert fleet.puller in line and UNKNOWN_AUTHORITY in line, (
            f"no failure naming {fleet.puller}, {address} and the daemon's error in:\n{output[-4000:]}")
    # The session put the real CA back.
    for address in fleet.addresses:
        assert fleet.host(fleet.puller).file(f"/etc/docker/certs.d/{address}/ca.crt").content == fleet.ca_pem


def test_image_still_pulls_by_digest_after_the_registry_container_is_replaced(fleet, pushed_image):
    registry = fleet.host(fleet.registry)
    before = run_ok(registry, "docker container inspect --format %s %s", "{{.Id}}", REGISTRY_CONTAINER).strip()
    run_ok(registry, "docker container rm --force %s", REGISTRY_CONTAINER)
    assert registry.run("docker container inspect %s", REGISTRY_CONTAINER).rc != 0

    converge = fleet.ansible_playbook(Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "converge.yml")
    assert converge.returncode == 0, (
        f"converge after removing the registry container failed:\n{converge.stdout[-6000:]}")

    after = run_ok(registry, "docker container inspect --format %s %s", "{{.Id}}", REGISTRY_CONTAINER).strip()
    assert after != before, f"{fleet.registry}: {REGISTRY_CONTAINER} was not started again"
    for address in fleet.addresses:
        assert_pulls_by_digest(fleet, fleet.puller, address, pushed_image)
