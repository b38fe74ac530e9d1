"""Which runtimes a host has, Docker's need for hosts.toml, versions, and the TOML reader's errors."""

import pytest

from ansible_collections.dockyard.registry.plugins.module_utils._runtimes import detect, tomlfile
from ansible_collections.dockyard.registry.plugins.module_utils._runtimes.plan import Filesystem, RuntimeConfigError


def facts(*items):
    return detect.Facts(frozenset(i for i in items if not i.startswith("/")),
                        frozenset(i for i in items if i.startswith("/")))


def test_docker_host_whose_dockerd_runs_its_own_containerd_is_only_a_docker_host():
    # Debian's docker.io installs containerd and its config.toml, but dockerd started its own containerd.
    assert detect.detect(facts("dockerd", "containerd", "ctr", "/var/run/docker.sock",
                               "/etc/containerd/config.toml")) == {"docker": "dockerd is installed"}


def test_containerd_socket_of_its_own_makes_a_containerd_host_even_beside_docker():
    found = detect.detect(facts("dockerd", "containerd", "/run/containerd/containerd.sock"))

    assert list(found) == ["docker", "containerd"]
    assert "/run/containerd/containerd.sock" in found["containerd"]


def test_stopped_containerd_with_its_config_counts_on_a_host_without_docker():
    assert list(detect.detect(facts("containerd", "/etc/containerd/config.toml"))) == ["containerd"]
    assert detect.detect(facts("containerd")) == {}


def test_any_containers_image_tool_makes_a_podman_host():
    assert detect.detect(facts("skopeo")) == {"podman": "skopeo is installed"}
    assert detect.detect(facts("podman", "buildah")) == {"podman": "podman, buildah are installed"}
    assert detect.detect(facts("/run/docker.sock")) == {"docker": "the Docker socket /run/docker.sock exists"}


def test_gather_reads_programs_and_paths(tmp_path):
    (tmp_path / "run/containerd").mkdir(parents=True)
    (tmp_path / "run/containerd/containerd.sock").touch()

    gathered = detect.gather(Filesystem(str(tmp_path)), which=lambda name: name in ("podman", "ctr"))

    assert gathered == detect.Facts(frozenset({"podman", "ctr"}), frozenset({"/run/containerd/containerd.sock"}))


def test_auto_selects_what_was_found_and_a_list_forces_its_runtimes():
    host = facts("podman")

    assert detect.select("auto", host) == {"podman": "podman is installed"}
    assert detect.select(["containerd", "podman"], host) == {
        "containerd": "named in registry_trust_runtimes", "podman": "podman is installed"}


def test_unknown_runtime_names_are_refused_naming_them_and_the_choices():
    with pytest.raises(ValueError, match=r"unknown runtimes 'cri-o', 'rkt' in registry_trust_runtimes: use auto, or a "
                                         r"list of docker, containerd, podman"):
        detect.check_runtimes(["docker", "cri-o", "rkt"])
    assert detect.check_runtimes(["podman", "docker"]) == ["docker", "podman"]


@pytest.mark.parametrize(("info", "expected"), [
    ({"ServerVersion": "29.0.0", "Driver": "overlayfs",
      "DriverStatus": [["driver-type", "io.containerd.snapshotter.v1"]]}, True),
    ({"ServerVersion": "28.3.1", "Driver": "overlayfs",
      "DriverStatus": [["driver-type", "io.containerd.snapshotter.v1"]]}, True),
    ({"ServerVersion": "29.1.2", "Driver": "overlay2", "DriverStatus": [["Backing Filesystem", "extfs"]]}, True),
    ({"ServerVersion": "20.10.24+dfsg1", "Driver": "overlay2",
      "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]]}, False),
    ({"ServerVersion": "28.5.0", "Driver": "overlay2", "DriverStatus": None}, False),
    ({}, False),
])
def test_docker_reads_hosts_toml_with_the_containerd_store_or_from_engine_29(info, expected):
    needed, why = detect.docker_reads_hosts_toml(info)

    assert needed is expected
    assert why


@pytest.mark.parametrize(("output", "expected"), [
    ("containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3", (1, 6, 20)),
    ("containerd containerd.io 1.7.27 05044ec0a9a75232cad458027ca83437aae3f4da", (1, 7, 27)),
    ("containerd github.com/containerd/containerd/v2 v2.1.4 75cb2b7193e4e490e9fbdc236c0e811ccaba3376", (2, 1, 4)),
    ("containerd containerd.io v2.0.0 207ad711eabd375a01713109a8a197d197ff6542", (2, 0, 0)),
    ("", ()),
])
def test_containerd_version_from_its_own_output(output, expected):
    assert detect.containerd_version(output) == expected


def test_toml_errors_name_the_file_line_and_column():
    with pytest.raises(RuntimeConfigError, match=r"^/etc/x.toml is not valid TOML: line 2, column 10: Illegal character .*Fix the file by "
                                                 r"hand; nothing was changed\.$"):
        tomlfile.loads(b'a = 1\nb = "open\n', "/etc/x.toml")
    with pytest.raises(RuntimeConfigError, match=r"/etc/x.toml is not valid TOML: line 3: it is not UTF-8"):
        tomlfile.loads(b'a = 1\n\nb = "\xff"\n', "/etc/x.toml")


def test_dotted_keys_quote_what_is_not_bare():
    assert tomlfile.dotted_key(("plugins", "io.containerd.grpc.v1.cri", "registry")) == \
        'plugins."io.containerd.grpc.v1.cri".registry'
    assert tomlfile.dotted_key(("a", 'b"c', "d_e-1")) == 'a."b\\"c".d_e-1'
