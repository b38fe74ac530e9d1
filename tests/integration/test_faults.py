"""Faults during a move: the registry killed, the Docker daemon restarted, the registry's storage full.

Each move is ``registry_image`` on a Docker host of its own (a container with its own dockerd, as the molecule
hosts run; ``daemon_hosts.DockerHost``), pushing to or pulling from a registry container of this machine's daemon (the
local registry image, TLS from a CA of the test, trusted through the host's certs.d). Each fault strikes while
the move is under way, in the middle of a layer: the registry is slowed (a CPU quota) so that the transfer lasts,
and the fault comes once the registry's upload (or the host's download) holds some megabytes. The move must end
in an error that names what failed, what the registry stored before must still verify blob by blob, and the next
run must complete.

The host's daemon downloads each layer once (``max-download-attempts: 1``), so that a pull fails at once; a push
is retried by the daemon for about fifty seconds (Docker 20.10 has no setting for that) before it fails.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from daemon_hosts import DockerHost
from scratch_registry import CA, FAULT_PORTS, ScratchRegistry, free_port

MODULE = "dockyard.registry.registry_image"
DOCKER_HOST = "unix:///var/run/docker.sock"
HOST_DAEMON = {"max-concurrent-uploads": 1, "max-concurrent-downloads": 1, "max-download-attempts": 1}
SLOW = {"cpu_period": 100_000, "cpu_quota": 5_000}  # a twentieth of a core: a layer takes seconds to move
FULL_SPEED = {"cpu_period": 100_000, "cpu_quota": -1}
UNDER_WAY = 8 << 20  # bytes moved before the fault strikes
HUNG = 300  # seconds after which a move has hung


@pytest.fixture(scope="module")
def ca() -> CA:
    return CA("faults test CA")


@pytest.fixture(scope="module")
def host(scratch_registry_image):
    """A Docker host that pulls each layer once, with two images of its own: ``small`` and ``big`` (two layers)."""
    docker_host = DockerHost([], prefix="dockyard-gcf-host-", daemon_json=HOST_DAEMON)
    try:
        build(docker_host, "small:1", [1])
        build(docker_host, "big:1", [48, 48])
        yield docker_host
    finally:
        docker_host.remove()


def build(host: DockerHost, tag: str, sizes_mb: list[int]) -> None:
    """An image of one layer of random bytes per size, built on the host itself (nothing is pulled)."""
    files = [f"layer{number}" for number in range(len(sizes_mb))]
    script = ["rm -rf /context", "mkdir /context"]
    script += [f"head -c {size}M /dev/urandom > /context/{name}" for name, size in zip(files, sizes_mb)]
    dockerfile = "FROM scratch\\n" + "".join(f"COPY {name} /{name}\\n" for name in files)
    script += [f"printf '{dockerfile}' > /context/Dockerfile", f"docker build -q -t {tag} /context", "rm -rf /context"]
    host.exec("sh", "-c", " && ".join(script))


@pytest.fixture
def registry(host, ca, machine_ip, tmp_path):
    """A registry with its storage in ``tmp_path/storage``, trusted by the host through its certs.d."""
    storage = tmp_path / "storage"
    storage.mkdir()
    with registry_on(host, ca, machine_ip, tmp_path, storage) as running:
        yield running


@contextlib.contextmanager
def registry_on(host: DockerHost, ca: CA, ip: str, workdir: Path, storage: Path):
    port = free_port(FAULT_PORTS, ip)
    with ScratchRegistry(f"dockyard-gcf-registry-{uuid.uuid4().hex[:8]}", ip, port, workdir,
                         certificate=ca.issue([ip]), storage=storage) as running:
        certs = f"/etc/docker/certs.d/{running.address}"
        host.exec("mkdir", "-p", certs)
        host.write(f"{certs}/ca.crt", ca.pem.decode())
        try:
            yield running
        finally:
            host.exec("rm", "-rf", certs)
            host.exec("sh", "-c", f"docker image ls -q '{running.address}/*' | sort -u | xargs -r docker rmi -f",
                      check=False)


def move(host: DockerHost, **args) -> dict:
    return host.run(MODULE, args, timeout=HUNG)


def push(host: DockerHost, registry, source: str, repository: str) -> dict:
    return move(host, name=f"{registry.address}/{repository}:1", source=source)


def verify_blobs(host: DockerHost, registry, repository: str, digest: str) -> dict:
    return move(host, name=f"{registry.address}/{repository}@{digest}", state="verified", verify="blobs", pull=False)


def assert_ok(result: dict) -> dict:
    assert not result.get("failed"), result.get("msg", result)
    return result


def uploading(registry) -> int:
    """Bytes the registry holds of uploads in progress."""
    return sum(path.stat().st_size for path in registry.storage.glob("docker/registry/v2/repositories/**/_uploads/*/data"))


def downloading(host: DockerHost) -> int:
    """Bytes the host's daemon holds of downloads in progress (dockerd writes them to its tmp directory)."""
    used = host.exec("du", "-sb", "/var/lib/docker/tmp", check=False).stdout.split()
    return int(used[0]) if used else 0


def during(task, moved, fault, timeout: float = 120) -> dict:
    """Run ``task()`` (a move), strike with ``fault()`` once ``moved()`` counts UNDER_WAY bytes, return its result."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pending = pool.submit(task)
        deadline = time.monotonic() + timeout
        while moved() < UNDER_WAY:
            if pending.done():
                raise AssertionError(f"the move ended before the fault could strike: {pending.result()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the move did not get under way within {timeout} seconds")
            time.sleep(0.05)
        fault()
        return pending.result()


def assert_daemon_could_not(result: dict, action: str) -> None:
    """The move failed, saying which daemon could not do what, to which registry."""
    assert result.get("failed"), result
    assert result["msg"].startswith(f"the Docker daemon at {DOCKER_HOST} could not {action}: "), result["msg"]


def slowed(registry) -> None:
    registry.container.update(**SLOW)


def full_speed(registry) -> None:
    registry.container.update(**FULL_SPEED)


# The registry killed


def test_a_push_survives_the_registry_being_killed_in_the_middle_of_a_layer(host, registry):
    stored = assert_ok(push(host, registry, "small:1", "faults/stored"))
    slowed(registry)

    result = during(lambda: push(host, registry, "big:1", "faults/big"), lambda: uploading(registry), registry.kill)

    assert_daemon_could_not(result, f"push {registry.address}/faults/big:1 to registry {registry.address}")
    registry.start_again()
    full_speed(registry)
    assert assert_ok(verify_blobs(host, registry, "faults/stored", stored["digest"]))["blobs"]["blobs"] == 2
    again = assert_ok(push(host, registry, "big:1", "faults/big"))
    assert again["changed"] is True
    assert assert_ok(verify_blobs(host, registry, "faults/big", again["digest"]))["blobs"]["layers"] == 2


def pushed_and_forgotten(host: DockerHost, registry, repository: str) -> dict:
    """An image of its own pushed to ``repository``, then removed from the host, so that a pull must fetch it."""
    build(host, f"{repository}:1", [48, 48])
    pushed = assert_ok(push(host, registry, f"{repository}:1", repository))
    host.exec("docker", "rmi", "-f", pushed["image_id"])
    return pushed


def test_a_pull_survives_the_registry_being_killed_in_the_middle_of_a_layer(host, registry):
    pushed = pushed_and_forgotten(host, registry, "faults/pulled")
    reference = f"{registry.address}/faults/pulled@{pushed['digest']}"
    slowed(registry)

    result = during(lambda: move(host, name=reference, state="pulled"), lambda: downloading(host), registry.kill)

    assert_daemon_could_not(result, f"pull {reference} from registry {registry.address}")
    registry.start_again()
    full_speed(registry)
    assert assert_ok(verify_blobs(host, registry, "faults/pulled", pushed["digest"]))["blobs"]["layers"] == 2
    again = assert_ok(move(host, name=reference, state="pulled"))
    assert (again["changed"], again["digest"]) == (True, pushed["digest"])


# The Docker daemon restarted


def test_a_push_survives_the_docker_daemon_restarting_in_the_middle_of_a_layer(host, registry):
    stored = assert_ok(push(host, registry, "small:1", "faults/stored"))
    slowed(registry)

    result = during(lambda: push(host, registry, "big:1", "faults/restarted"), lambda: uploading(registry),
                    host.restart_dockerd)

    assert_daemon_could_not(result, f"push {registry.address}/faults/restarted:1 to registry {registry.address}")
    assert "the connection to the daemon broke off in the middle" in result["msg"]
    full_speed(registry)
    assert assert_ok(verify_blobs(host, registry, "faults/stored", stored["digest"]))["blobs"]["blobs"] == 2
    again = assert_ok(push(host, registry, "big:1", "faults/restarted"))
    assert again["changed"] is True
    assert assert_ok(verify_blobs(host, registry, "faults/restarted", again["digest"]))["blobs"]["layers"] == 2


def test_a_pull_survives_the_docker_daemon_restarting_in_the_middle_of_a_layer(host, registry):
    pushed = pushed_and_forgotten(host, registry, "faults/pulled-restarted")
    reference = f"{registry.address}/faults/pulled-restarted@{pushed['digest']}"
    slowed(registry)

    result = during(lambda: move(host, name=reference, state="pulled"), lambda: downloading(host),
                    host.restart_dockerd)

    assert_daemon_could_not(result, f"pull {reference} from registry {registry.address}")
    assert "the connection to the daemon broke off in the middle" in result["msg"]
    full_speed(registry)
    again = assert_ok(move(host, name=reference, state="pulled"))
    assert (again["changed"], again["digest"]) == (True, pushed["digest"])


# The registry's storage full


@pytest.fixture
def small_storage(tmp_path):
    """A tmpfs of 40 MiB for the registry's storage: room for a small image, not for a big one."""
    storage = tmp_path / "tmpfs"
    storage.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m,mode=0755", "dockyard-gcf-storage", str(storage)],
                   check=True)
    try:
        yield storage
    finally:
        subprocess.run(["umount", "--lazy", str(storage)], check=False)


def test_a_push_to_a_full_storage_fails_naming_it_and_completes_once_there_is_room(
        host, ca, machine_ip, tmp_path, small_storage):
    with registry_on(host, ca, machine_ip, tmp_path, small_storage) as registry:
        stored = assert_ok(push(host, registry, "small:1", "faults/stored"))

        result = push(host, registry, "big:1", "faults/big")

        assert_daemon_could_not(result, f"push {registry.address}/faults/big:1 to registry {registry.address}")
        assert ". The registry answers a test upload with 500 Internal Server Error" in result["msg"]
        assert result["msg"].endswith(": No space left on device)"), result["msg"]
        assert assert_ok(verify_blobs(host, registry, "faults/stored", stored["digest"]))["blobs"]["blobs"] == 2

        subprocess.run(["mount", "-o", "remount,size=512m", str(small_storage)], check=True)
        again = assert_ok(push(host, registry, "big:1", "faults/big"))
        assert again["changed"] is True
        assert assert_ok(verify_blobs(host, registry, "faults/big", again["digest"]))["blobs"]["layers"] == 2
