"""The trust planners of module_utils/_runtimes against real containerd, CRI and Podman, over real TLS.

Each runtime host is a container of the images tests/images/build.py makes (a containerd-only host, a
Podman-only host), run with the Docker-in-Docker settings of molecule/resources/docker_host.yml. The planners run
on the host itself, with its own python3, the standard library and (on the containerd host, for config.toml)
Debian's python3-tomlkit, exactly as a module ships them,
and their operations are applied there through the registry_trust module's writer (``plan.Writer`` on the run's
``_files.Files``, with a real AnsibleModule from Ansible's module_utils, shipped as a module run ships it); a
containerd restart runs through that module's run_command, as the module's does, and goes through the pid file
that the image's command writes. Then the runtimes themselves pull an image by digest through every address of
a registry of the test's own: ``ctr`` and the CRI plugin (what kubelet pulls through) on the containerd host,
``podman`` and ``skopeo`` on the Podman host. Each pull that must fail (no trust, trust removed) fails with the
runtime's own x509 error, so the tests prove that TLS is checked.

Docker 29 cannot be installed here: the hosts.toml that the Docker planner writes into /etc/docker/certs.d is
read by containerd's own hosts parser (``ctr --hosts-dir /etc/docker/certs.d``), the library Docker's containerd
image store resolves registries with.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
import time
import uuid
from pathlib import Path

import ansible.module_utils
import pytest
import yaml
from cri import CRIClient, CRIError
from scratch_registry import CA, RegistryAPI, ScratchRegistry, htpasswd_line, tar_layer

from support import ROOT

HOST_SETTINGS = yaml.safe_load((ROOT / "molecule" / "resources" / "docker_host.yml").read_text())[
    "dockyard_molecule_docker_host"]
CONTAINERD_IMAGE = "dockyard/molecule-containerd-host-libraries:latest"  # with python3-tomlkit
PODMAN_IMAGE = "dockyard/molecule-podman-host:latest"
DOCKER_IMAGE = HOST_SETTINGS["image"]
REGISTRY_NAME = "registry.dockyard.test"  # the registry's DNS name on the runtime hosts (their /etc/hosts)
MODULE_UTILS = ROOT / "plugins" / "module_utils"
# The runtimes package, and what it imports from outside itself: the collection's file writer and service helper, the
# owners they take (_users) and the addresses the planners check (_names).
PACKAGE_FILES = [*sorted((MODULE_UTILS / "_runtimes").glob("*.py")),
                 *(MODULE_UTILS / name for name in ("_files.py", "_names.py", "_service.py", "_users.py"))]
MODULE_UTILS_ON_HOST = "/opt/dockyard/ansible_collections/dockyard/registry/plugins/module_utils"
# Ansible's own module_utils (AnsibleModule), under an empty ``ansible`` package as a module run ships them.
ANSIBLE_MODULE_UTILS = Path(ansible.module_utils.__file__).parent
X509_UNKNOWN = "x509: certificate signed by unknown authority"
PODMAN = ["podman", "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs"]

# Runs on a runtime host: plans with the runtime's planner, applies the plan (unless check mode), prints JSON.
DRIVER = r"""
import json, subprocess, sys
sys.path.insert(0, "/opt/dockyard")
from ansible.module_utils import basic
from ansible_collections.dockyard.registry.plugins.module_utils._files import Files
from ansible_collections.dockyard.registry.plugins.module_utils._runtimes import containerd, detect, docker, podman
from ansible_collections.dockyard.registry.plugins.module_utils._runtimes.plan import (
    Filesystem, RuntimeConfigError, Writer, apply)

args = json.load(sys.stdin)
fs = Filesystem()
runtime = args.pop("runtime")
check = args.pop("check", False)
basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": {"_ansible_check_mode": check, "_ansible_diff": True}}).encode()
basic._ANSIBLE_PROFILE = "legacy"  # ansible-core 2.19 and later
module = basic.AnsibleModule(argument_spec={}, supports_check_mode=True)
restarter = None
try:
    if runtime == "detect":
        print(json.dumps(detect.select("auto", detect.gather(fs))))
        sys.exit(0)
    if runtime == "containerd":
        version = subprocess.run(["containerd", "--version"], capture_output=True, text=True).stdout
        plan = containerd.plan(args.pop("addresses"), args.pop("ca_pem", None), args.pop("mode"), args.pop("state"),
                               containerd_version=version, **args)
        restarter = lambda: containerd.restart(module.run_command)
    elif runtime == "docker":
        plan = docker.plan(args.pop("addresses"), args.pop("mode"), args.pop("state"), **args)
    else:
        plan = podman.plan(args.pop("addresses"), args.pop("ca_pem", None), args.pop("mode"), args.pop("state"), **args)
    outcome = None if check else apply(plan, Writer(Files(module), fs), restarter)
    print(json.dumps({"summary": plan.summary(), "outcome": outcome}))
except RuntimeConfigError as exc:
    print(json.dumps({"failed": True, "msg": str(exc)}))
"""


def docker(*args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], check=check, capture_output=True, **kwargs)


class RuntimeHost:
    """A runtime host container; ``volume`` is the runtime's storage (overlay on overlay does not work)."""

    def __init__(self, kind: str, image: str, volume: str, registry_ip: str) -> None:
        self.name = f"dockyard-rt-{kind}-{uuid.uuid4().hex[:8]}"
        options = [f"--cap-add={cap}" for cap in HOST_SETTINGS["capabilities"]]
        options += [f"--security-opt={opt}" for opt in HOST_SETTINGS["security_opts"]]
        options += [f"--cgroupns={HOST_SETTINGS['cgroupns_mode']}", "--volume=/sys/fs/cgroup:/sys/fs/cgroup:rw",
                    f"--volume={volume}", f"--add-host={REGISTRY_NAME}:{registry_ip}"]
        docker("run", "--detach", "--name", self.name, *options, image)
        self.install_package()

    def install_package(self) -> None:
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            for source in PACKAGE_FILES:
                tar.add(source, arcname=str(Path(MODULE_UTILS_ON_HOST.lstrip("/"), source.relative_to(MODULE_UTILS))))
            package = tarfile.TarInfo("opt/dockyard/ansible/__init__.py")
            tar.addfile(package, io.BytesIO(b""))
            tar.add(ANSIBLE_MODULE_UTILS, arcname="opt/dockyard/ansible/module_utils",
                    filter=lambda member: None if "__pycache__" in member.name else member)
        self.exec("sh", "-c", "tar -x -C /",
                  stdin=archive.getvalue())

    def exec(self, *args: str, check: bool = True, stdin: bytes | None = None) -> subprocess.CompletedProcess:
        done = docker("exec", "-i", self.name, *args, check=False, input=stdin)
        done.stdout, done.stderr = done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(args)} on {self.name} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        return done

    def write(self, path: str, content: bytes, mode: str = "0644") -> None:
        self.exec("sh", "-c", f"mkdir -p \"$(dirname {path})\" && cat > {path} && chmod {mode} {path}", stdin=content)

    def read(self, path: str) -> bytes:
        return docker("exec", self.name, "cat", path).stdout

    def trust(self, runtime: str, **args) -> dict:
        """Plan and apply with the runtime's planner on the host (``check=True``: plan only)."""
        done = self.exec("python3", "-c", DRIVER, stdin=json.dumps({"runtime": runtime, **args}).encode())
        return json.loads(done.stdout)

    @property
    def pid(self) -> int:
        """The container's first process, as this machine sees it: its root is /proc/<pid>/root."""
        return int(docker("inspect", "--format", "{{.State.Pid}}", self.name, text=True).stdout)

    def wait_for(self, *command: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.exec(*command, check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise AssertionError(f"{' '.join(command)} never succeeded on {self.name}")
            time.sleep(0.3)

    def remove(self) -> None:
        docker("rm", "--force", "--volumes", self.name, check=False)


class ContainerdHost(RuntimeHost):
    def __init__(self, registry_ip: str) -> None:
        super().__init__("containerd", CONTAINERD_IMAGE, "/var/lib/containerd", registry_ip)
        self.wait_for("ctr", "version")

    def containerd_pid(self) -> int:
        return int(self.read("/run/containerd/containerd.pid"))

    def cri(self) -> CRIClient:
        return CRIClient(f"/proc/{self.pid}/root/run/containerd/containerd.sock")

    def ctr_pull(self, reference: str, hosts_dir: str = "/etc/containerd/certs.d") -> subprocess.CompletedProcess:
        self.exec("ctr", "images", "rm", "--sync", reference, check=False)
        return self.exec("ctr", "images", "pull", "--hosts-dir", hosts_dir, "--snapshotter", "native", reference,
                         check=False)

    def cri_pull(self, reference: str) -> str:
        """Pull through the CRI plugin (kubelet's way); the image is removed first so the pull must reach the registry."""
        self.exec("ctr", "--namespace", "k8s.io", "images", "rm", "--sync", reference, check=False)
        client = self.cri()
        try:
            return client.pull(reference)
        finally:
            client.close()


class PodmanHost(RuntimeHost):
    def __init__(self, registry_ip: str) -> None:
        super().__init__("podman", PODMAN_IMAGE, "/var/lib/containers", registry_ip)

    def pull(self, reference: str) -> subprocess.CompletedProcess:
        self.exec(*PODMAN, "rmi", "--all", "--force", check=False)
        return self.exec(*PODMAN, "pull", reference, check=False)


@pytest.fixture(scope="module")
def registries(tmp_path_factory, machine_ip, scratch_registry_image):
    """Three registries of the module's own: TLS from its own CA, plain HTTP, and TLS with a login.

    Each holds one image (an OCI manifest of one layer) pushed over the registry API; its digest is what the
    runtimes pull by.
    """
    workdir = tmp_path_factory.mktemp("runtimes")
    ca = CA("dockyard runtimes test CA")
    names = [machine_ip, REGISTRY_NAME]
    layer = tar_layer(workdir / "layer.tar", "marker.txt", 4096)
    password = uuid.uuid4().hex
    started = []
    try:
        tls = ScratchRegistry("dockyard-rt-tls", machine_ip, 5650, workdir / "tls", certificate=ca.issue(names))
        plain = ScratchRegistry("dockyard-rt-http", machine_ip, 5651, workdir / "http")
        login = ScratchRegistry("dockyard-rt-login", machine_ip, 5652, workdir / "login", certificate=ca.issue(names),
                                htpasswd=htpasswd_line("fleet", password))
        for registry in (tls, plain, login):
            registry.start()
            started.append(registry)
        (workdir / "ca.crt").write_bytes(ca.pem)
        digests = {}
        for registry in started:
            api = RegistryAPI(registry.url, str(workdir / "ca.crt") if registry.certificate else None)
            if registry is login:
                api.session.auth = ("fleet", password)
            digests[registry.port] = api.push_image("dockyard/runtimes", "v1", [layer])["digest"]
            api.close()
        yield {"ca": ca.pem.decode(), "tls": tls, "http": plain, "login": login, "digests": digests,
               "password": password, "names": names}
    finally:
        for registry in started:
            registry.stop()


def references(registries, which: str) -> list[str]:
    """The image by digest through every address of the registry ``which``."""
    registry = registries[which]
    return [f"{name}:{registry.port}/dockyard/runtimes@{registries['digests'][registry.port]}"
            for name in registries["names"]]


def addresses(registries, which: str) -> list[str]:
    return [f"{name}:{registries[which].port}" for name in registries["names"]]


@pytest.fixture(scope="module")
def containerd_host(machine_ip):
    host = ContainerdHost(machine_ip)
    yield host
    host.remove()


@pytest.fixture(scope="module")
def podman_host(machine_ip):
    host = PodmanHost(machine_ip)
    yield host
    host.remove()


def test_detection_tells_each_runtime_host_by_its_own_rule(containerd_host, podman_host, machine_ip):
    docker_host = RuntimeHost("docker", DOCKER_IMAGE, "/var/lib/docker", machine_ip)
    try:
        docker_host.wait_for("docker", "info")
        # dockerd runs a containerd of its own here, which is Docker's and does not count.
        assert docker_host.exec("test", "-S", "/var/run/docker/containerd/containerd.sock", check=False).returncode == 0
        assert list(docker_host.trust("detect")) == ["docker"]
    finally:
        docker_host.remove()
    assert list(containerd_host.trust("detect")) == ["containerd"]
    assert list(podman_host.trust("detect")) == ["podman"]


def test_containerd_trusts_the_registry_by_ca_for_ctr_and_cri_through_every_address(containerd_host, registries):
    host = containerd_host
    debian_config = host.read("/etc/containerd/config.toml")
    for reference in references(registries, "tls"):
        assert X509_UNKNOWN in host.ctr_pull(reference).stderr
        with pytest.raises(CRIError, match=X509_UNKNOWN):
            host.cri_pull(reference)
    pid_before = host.containerd_pid()

    result = host.trust("containerd", addresses=addresses(registries, "tls"), ca_pem=registries["ca"], mode="ca",
                        state="present")

    assert not result.get("failed"), result
    outcome = result["outcome"]
    assert outcome["changed"] and "file /etc/containerd/config.toml" in outcome["paths"]
    assert outcome["restarted"]["method"] == "pid file"
    assert outcome["restarted"]["pid_before"] == pid_before != outcome["restarted"]["pid_after"] == host.containerd_pid()
    host.exec("ctr", "version")
    client = host.cri()
    assert client.config()["registry"]["configPath"] == "/etc/containerd/certs.d"
    client.close()
    # Debian's file, every line kept, and the registry table among the CRI plugin's tables, after cni.
    original = debian_config.decode().splitlines()
    assert original[6] == '      conf_dir = "/etc/cni/net.d"'
    assert host.read("/etc/containerd/config.toml").decode().splitlines() == [
        *original[:7], "", '    [plugins."io.containerd.grpc.v1.cri".registry]',
        '      config_path = "/etc/containerd/certs.d"', *original[7:]]
    assert host.exec("sh", "-c", "ls /etc/containerd/config.toml.*~").stdout.strip()
    for reference in references(registries, "tls"):
        pulled = host.ctr_pull(reference)
        assert pulled.returncode == 0, pulled.stderr
        assert host.cri_pull(reference).startswith("sha256:")

    again = host.trust("containerd", addresses=addresses(registries, "tls"), ca_pem=registries["ca"], mode="ca",
                       state="present")
    assert (again["outcome"]["changed"], again["outcome"]["restarted"]) == (False, None)
    assert host.containerd_pid() == outcome["restarted"]["pid_after"]

    removed = host.trust("containerd", addresses=addresses(registries, "tls"), mode="ca", state="absent")
    assert removed["outcome"]["changed"] and removed["outcome"]["restarted"] is None
    assert host.exec("ls", "/etc/containerd/certs.d").stdout == ""
    for reference in references(registries, "tls"):
        assert X509_UNKNOWN in host.ctr_pull(reference).stderr
        with pytest.raises(CRIError, match=X509_UNKNOWN):
            host.cri_pull(reference)


def test_containerd_insecure_fallback_pulls_without_the_ca_over_tls_and_over_plain_http(containerd_host, registries):
    host = containerd_host
    for which, tls in (("tls", True), ("http", False)):
        result = host.trust("containerd", addresses=addresses(registries, which), mode="insecure", state="present",
                            tls=tls)
        assert not result.get("failed"), result
        for reference in references(registries, which):
            pulled = host.ctr_pull(reference)
            assert pulled.returncode == 0, pulled.stderr
            assert host.cri_pull(reference).startswith("sha256:")
        assert host.trust("containerd", addresses=addresses(registries, which), mode="insecure", state="present",
                          tls=tls)["outcome"]["changed"] is False
        host.trust("containerd", addresses=addresses(registries, which), mode="insecure", state="absent")
    assert X509_UNKNOWN in host.ctr_pull(references(registries, "tls")[0]).stderr


def test_unparseable_config_toml_is_left_byte_for_byte_with_its_line_named(containerd_host, registries):
    host = containerd_host
    original = host.read("/etc/containerd/config.toml")
    broken = original + b'\n[plugins."io.containerd.monitor.v1.cgroups"]\n  no_prometheus = "unterminated\n'
    host.write("/etc/containerd/config.toml", broken)
    pid = host.containerd_pid()
    try:
        result = host.trust("containerd", addresses=addresses(registries, "tls"), ca_pem=registries["ca"], mode="ca",
                            state="present")

        line = len(broken.decode().splitlines())
        assert result["failed"] and result["msg"].startswith(
            f"/etc/containerd/config.toml is not valid TOML: line {line}, column ")
        assert hashlib.sha256(host.read("/etc/containerd/config.toml")).digest() == hashlib.sha256(broken).digest()
        assert host.exec("test", "-e", "/etc/containerd/certs.d/" + addresses(registries, "tls")[0],
                         check=False).returncode != 0
        assert host.containerd_pid() == pid
    finally:
        host.write("/etc/containerd/config.toml", original)


def test_docker_hosts_toml_is_read_by_containerds_parser_in_docker_certs_d(containerd_host, registries):
    """What Docker 29's containerd image store reads, read by containerd's own hosts library (ctr --hosts-dir).

    hosts.toml wins over the directory's *.crt files: naming only a CA that did not sign the registry fails even
    though the right CA sits beside it as a *.crt, which proves that the file, not the directory, was read.
    """
    host = containerd_host
    certs_d = "/etc/docker/certs.d"
    other_ca = CA("dockyard previous CA").pem
    for address in addresses(registries, "tls"):
        host.write(f"{certs_d}/{address}/ca.crt", other_ca, "0444")
        host.write(f"{certs_d}/{address}/ca-next.crt", registries["ca"].encode(), "0444")
    try:
        only_old = host.trust("docker", addresses=addresses(registries, "tls"), mode="ca", state="present",
                              ca_files=["ca.crt"])
        assert only_old["outcome"]["changed"], only_old
        for reference in references(registries, "tls"):
            assert X509_UNKNOWN in host.ctr_pull(reference, certs_d).stderr

        rollover = host.trust("docker", addresses=addresses(registries, "tls"), mode="ca", state="present",
                              ca_files=["ca.crt", "ca-next.crt"])
        assert rollover["outcome"]["changed"]
        for reference in references(registries, "tls"):
            pulled = host.ctr_pull(reference, certs_d)
            assert pulled.returncode == 0, pulled.stderr

        for address in addresses(registries, "tls"):
            host.exec("rm", f"{certs_d}/{address}/ca.crt", f"{certs_d}/{address}/ca-next.crt")
        insecure = host.trust("docker", addresses=addresses(registries, "tls"), mode="insecure", state="present")
        assert insecure["outcome"]["changed"]
        for reference in references(registries, "tls"):
            pulled = host.ctr_pull(reference, certs_d)
            assert pulled.returncode == 0, pulled.stderr

        gone = host.trust("docker", addresses=addresses(registries, "tls"), mode="insecure", state="absent")
        assert gone["outcome"]["paths"] == [f"absent {certs_d}/{address}/hosts.toml"
                                            for address in addresses(registries, "tls")]
    finally:
        host.exec("rm", "-rf", certs_d)


def hub_image_on_a_mirror(registries, tmp_path) -> tuple[str, str]:
    """The TLS registry plays a pull-through mirror of Docker Hub: it holds a ``library/...`` image, the one a
    ``docker.io/...`` name must come from (Docker Hub itself cannot be reached here). Its mirror address, and the
    docker.io reference of the image by digest."""
    registry = registries["tls"]
    (tmp_path / "ca.crt").write_text(registries["ca"])
    api = RegistryAPI(registry.url, str(tmp_path / "ca.crt"))
    name = f"dockyard-mirrored-{uuid.uuid4().hex[:8]}"
    digest = api.push_image(f"library/{name}", "v1", [tar_layer(tmp_path / "layer.tar", name, 2048)])["digest"]
    api.close()
    return f"{registries['names'][0]}:{registry.port}", f"docker.io/library/{name}@{digest}"


def test_containerd_pulls_docker_hub_names_through_the_mirror_for_ctr_and_cri(containerd_host, registries, tmp_path):
    host = containerd_host
    mirror, reference = hub_image_on_a_mirror(registries, tmp_path)
    trusted = {"addresses": addresses(registries, "tls")[1:], "ca_pem": registries["ca"], "mode": "ca",
               "state": "present"}

    result = host.trust("containerd", **trusted, mirrors=[mirror])

    assert not result.get("failed") and result["outcome"]["changed"], result
    assert host.read(f"/etc/containerd/certs.d/{mirror}/ca.crt").decode() == registries["ca"]
    pulled = host.ctr_pull(reference)
    assert pulled.returncode == 0, pulled.stderr
    assert host.cri_pull(reference).startswith("sha256:")
    assert host.trust("containerd", **trusted, mirrors=[mirror])["outcome"]["changed"] is False

    # Without the mirror, docker.io is Docker Hub again, which this machine cannot reach.
    dropped = host.trust("containerd", **trusted)
    assert "absent /etc/containerd/certs.d/docker.io/hosts.toml" in dropped["summary"]["changes"], dropped
    assert host.ctr_pull(reference).returncode != 0
    with pytest.raises(CRIError):
        host.cri_pull(reference)
    host.trust("containerd", **{**trusted, "state": "absent"}, mirrors=[mirror])


def test_podman_and_skopeo_pull_docker_hub_names_through_the_mirror(podman_host, registries, tmp_path):
    host = podman_host
    mirror, reference = hub_image_on_a_mirror(registries, tmp_path)
    trusted = {"addresses": addresses(registries, "tls")[1:], "ca_pem": registries["ca"], "mode": "ca",
               "state": "present"}

    result = host.trust("podman", **trusted, mirrors=[mirror])

    assert not result.get("failed") and result["outcome"]["changed"], result
    pulled = host.pull(reference)
    assert pulled.returncode == 0, pulled.stderr
    raw = host.exec("skopeo", "inspect", "--raw", f"docker://{reference}").stdout
    assert f"sha256:{hashlib.sha256(raw.encode()).hexdigest()}" == reference.rsplit("@", 1)[1]
    assert host.trust("podman", **trusted, mirrors=[mirror])["outcome"]["changed"] is False

    host.trust("podman", **trusted)
    assert host.exec("test", "-e", "/etc/containers/registries.conf.d/50-dockyard-registry.conf",
                     check=False).returncode != 0
    assert host.pull(reference).returncode != 0
    host.trust("podman", **{**trusted, "state": "absent"}, mirrors=[mirror])


def test_podman_trusts_the_registry_by_ca_through_every_address_and_fails_once_it_is_removed(podman_host, registries):
    host = podman_host
    for reference in references(registries, "tls"):
        assert X509_UNKNOWN in host.pull(reference).stderr

    result = host.trust("podman", addresses=addresses(registries, "tls"), ca_pem=registries["ca"], mode="ca",
                        state="present")

    assert not result.get("failed") and result["outcome"]["changed"], result
    for reference in references(registries, "tls"):
        pulled = host.pull(reference)
        assert pulled.returncode == 0, pulled.stderr
        raw = host.exec("skopeo", "inspect", "--raw", f"docker://{reference}").stdout
        assert f"sha256:{hashlib.sha256(raw.encode()).hexdigest()}" == reference.rsplit("@", 1)[1]
    assert host.trust("podman", addresses=addresses(registries, "tls"), ca_pem=registries["ca"], mode="ca",
                      state="present")["outcome"]["changed"] is False

    host.trust("podman", addresses=addresses(registries, "tls"), mode="ca", state="absent")
    assert host.exec("ls", "/etc/containers/certs.d", check=False).stdout == ""
    for reference in references(registries, "tls"):
        assert X509_UNKNOWN in host.pull(reference).stderr


def test_podman_insecure_fallback_is_a_dropin_for_tls_without_the_ca_and_for_plain_http(podman_host, registries):
    host = podman_host
    registries_conf = host.read("/etc/containers/registries.conf")
    everything = addresses(registries, "tls") + addresses(registries, "http")

    result = host.trust("podman", addresses=everything, mode="insecure", state="present")

    assert not result.get("failed") and result["outcome"]["changed"], result
    for reference in references(registries, "tls") + references(registries, "http"):
        pulled = host.pull(reference)
        assert pulled.returncode == 0, pulled.stderr
    assert host.read("/etc/containers/registries.conf") == registries_conf
    host.trust("podman", addresses=everything, mode="insecure", state="absent")
    assert host.exec("test", "-e", "/etc/containers/registries.conf.d/50-dockyard-registry.conf",
                     check=False).returncode != 0
    assert X509_UNKNOWN in host.pull(references(registries, "tls")[0]).stderr


def test_podman_logs_in_through_auth_json_that_skopeo_reads_too(podman_host, registries):
    host = podman_host
    reference = references(registries, "login")[0]
    login = addresses(registries, "login")
    host.trust("podman", addresses=login, ca_pem=registries["ca"], mode="ca", state="present")
    assert "unauthorized" in host.pull(reference).stderr.lower()

    result = host.trust("podman", addresses=login, ca_pem=registries["ca"], mode="ca", state="present",
                        credentials={"username": "fleet", "password": registries["password"]})

    assert registries["password"] not in json.dumps(result)
    assert "0600" == host.exec("stat", "-c", "%04a", "/root/.config/containers/auth.json").stdout.strip()
    for each in references(registries, "login"):
        pulled = host.pull(each)
        assert pulled.returncode == 0, pulled.stderr
        host.exec("skopeo", "inspect", "--raw", f"docker://{each}")
    host.trust("podman", addresses=login, mode="ca", state="absent")
    assert json.loads(host.read("/root/.config/containers/auth.json")) == {"auths": {}}
    host.trust("podman", addresses=login, ca_pem=registries["ca"], mode="ca", state="present")
    assert "unauthorized" in host.pull(reference).stderr.lower()
    host.trust("podman", addresses=login, mode="ca", state="absent")


def test_unparseable_registries_conf_is_left_byte_for_byte_with_its_line_named(podman_host, registries):
    host = podman_host
    original = host.read("/etc/containers/registries.conf")
    broken = original + b'[[registry]]\nlocation = "mirror.example.test"\ninsecure = yes\n'
    host.write("/etc/containers/registries.conf", broken)
    try:
        result = host.trust("podman", addresses=addresses(registries, "tls"), mode="insecure", state="present")

        line = len(broken.decode().splitlines())
        assert result["failed"] and result["msg"].startswith(
            f"/etc/containers/registries.conf is not valid TOML: line {line}, column ")
        assert host.read("/etc/containers/registries.conf") == broken
        assert host.exec("test", "-e", "/etc/containers/registries.conf.d/50-dockyard-registry.conf",
                         check=False).returncode != 0
    finally:
        host.write("/etc/containers/registries.conf", original)


@pytest.fixture(autouse=True, scope="module")
def _images_present():
    for image in (CONTAINERD_IMAGE, PODMAN_IMAGE, DOCKER_IMAGE):
        if docker("image", "inspect", image, check=False).returncode != 0:
            pytest.fail(f"{image} is missing: run make test-images (tests/images/build.py)")
    assert os.geteuid() == 0, "the runtime tests open the hosts' sockets through /proc/<pid>/root: run them as root"
