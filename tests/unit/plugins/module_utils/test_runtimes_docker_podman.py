"""Docker's hosts.toml for the containerd image store, and the containers/image family's trust and credentials."""

import base64
import json
import os
import stat

import pytest

from ansible_collections.dockyard.registry.plugins.module_utils._runtimes import docker, podman
from ansible_collections.dockyard.registry.plugins.module_utils._runtimes.plan import (
    ClientCertificate,
    Filesystem,
    RuntimeConfigError,
    apply,
)
from ansible_collections.dockyard.registry.plugins.module_utils._runtimes.tomlfile import loads

ADDRESSES = ["192.0.2.10:5000", "registry.example.test:5000"]
CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
DEBIAN_REGISTRIES_CONF = b"""# For more information on this configuration file, see containers-registries.conf(5).
# unqualified-search-registries = ["example.com"]
"""
CREDENTIALS = {"username": "fleet", "password": "s3cret"}


def host(tmp_path, files):
    for path, content in files.items():
        real = tmp_path / path.lstrip("/")
        real.parent.mkdir(parents=True, exist_ok=True)
        real.write_bytes(content)
    return Filesystem(str(tmp_path))


@pytest.fixture
def run(plan_writer):
    """``run(planner, fs, ...)``: the plan, and what performing it through the module's writer changed."""
    def plan_and_apply(planner, fs, *args, **kwargs):
        result = planner(*args, fs=fs, **kwargs)
        return result, apply(result, plan_writer(fs))
    return plan_and_apply


def test_docker_hosts_toml_names_every_ca_file_of_the_directory(tmp_path, run):
    fs = Filesystem(str(tmp_path))

    result, outcome = run(docker.plan, fs, ADDRESSES, "ca", "present", ca_files=["ca.crt", "ca-next.crt"])

    assert outcome["changed"] and not result.restart
    for address in ADDRESSES:
        written = (tmp_path / "etc/docker/certs.d" / address / "hosts.toml").read_bytes()
        assert loads(written, "hosts.toml") == {
            "server": f"https://{address}",
            "host": {f"https://{address}": {"capabilities": ["pull", "resolve", "push"],
                                            "ca": [f"/etc/docker/certs.d/{address}/ca.crt",
                                                   f"/etc/docker/certs.d/{address}/ca-next.crt"]}}}
    assert docker.plan(ADDRESSES, "ca", "present", ca_files=["ca.crt", "ca-next.crt"], fs=fs).pending == []


def test_docker_engine_that_reads_no_hosts_toml_gets_none(tmp_path):
    result = docker.plan(ADDRESSES, "ca", "present", reads_hosts_toml=False, fs=Filesystem(str(tmp_path)))

    assert result.operations == [] and result.found["reads_hosts_toml"] is False


def test_docker_insecure_and_absent(tmp_path, run):
    fs = Filesystem(str(tmp_path))
    run(docker.plan, fs, ADDRESSES[:1], "insecure", "present")
    written = (tmp_path / "etc/docker/certs.d/192.0.2.10:5000/hosts.toml").read_bytes()
    assert loads(written, "h")["host"]["https://192.0.2.10:5000"]["skip_verify"] is True

    _result, outcome = run(docker.plan, fs, ADDRESSES[:1], "insecure", "absent")

    assert outcome["paths"] == ["absent /etc/docker/certs.d/192.0.2.10:5000/hosts.toml"]
    assert (tmp_path / "etc/docker/certs.d/192.0.2.10:5000").is_dir()  # the CA's removal takes the directory


def test_docker_trust_report_follows_hosts_toml_over_the_crt_files(tmp_path, run):
    fs = host(tmp_path, {"/etc/docker/certs.d/192.0.2.10:5000/ca.crt": CA.encode()})
    crt = "/etc/docker/certs.d/192.0.2.10:5000/ca.crt"
    run(docker.plan, fs, ADDRESSES[:1], "insecure", "present")

    assert docker.trust_report(ADDRESSES[0], fs, reads_hosts_toml=False) == {
        "runtime": "docker", "reads": [crt], "verifies": True, "ca": [crt]}
    assert docker.trust_report(ADDRESSES[0], fs) == {
        "runtime": "docker", "reads": ["/etc/docker/certs.d/192.0.2.10:5000/hosts.toml"], "verifies": False, "ca": None}
    run(docker.plan, fs, ADDRESSES[:1], "ca", "present")
    assert docker.trust_report(ADDRESSES[0], fs)["ca"] == [crt]


def test_podman_ca_mode_writes_ca_per_address_and_no_dropin(tmp_path, run):
    fs = host(tmp_path, {"/etc/containers/registries.conf": DEBIAN_REGISTRIES_CONF})

    result, outcome = run(podman.plan, fs, ADDRESSES, CA, "ca", "present")

    assert outcome["changed"] and result.warnings == []
    for address in ADDRESSES:
        assert (tmp_path / "etc/containers/certs.d" / address / "ca.crt").read_text() == CA
    assert not (tmp_path / "etc/containers/registries.conf.d").exists()
    assert podman.plan(ADDRESSES, CA, "ca", "present", fs=fs).pending == []


def test_podman_insecure_mode_is_one_dropin_and_registries_conf_stays(tmp_path, run):
    fs = host(tmp_path, {"/etc/containers/registries.conf": DEBIAN_REGISTRIES_CONF})
    run(podman.plan, fs, ADDRESSES, CA, "ca", "present")

    run(podman.plan, fs, ADDRESSES, None, "insecure", "present", tls=False)

    dropin = tmp_path / "etc/containers/registries.conf.d/50-dockyard-registry.conf"
    assert loads(dropin.read_bytes(), "d") == {"registry": [{"location": address, "insecure": True}
                                                            for address in ADDRESSES]}
    assert not (tmp_path / "etc/containers/certs.d" / ADDRESSES[0]).exists()
    assert (tmp_path / "etc/containers/registries.conf").read_bytes() == DEBIAN_REGISTRIES_CONF

    back, _outcome = run(podman.plan, fs, ADDRESSES, CA, "ca", "present")
    assert not dropin.exists()
    assert "absent /etc/containers/registries.conf.d/50-dockyard-registry.conf" in back.summary()["changes"]


def test_unparseable_registries_conf_names_its_line_and_nothing_is_written(tmp_path):
    broken = DEBIAN_REGISTRIES_CONF + b'[[registry]]\nlocation = "x.example"\ninsecure = yes\n'
    fs = host(tmp_path, {"/etc/containers/registries.conf": broken})

    with pytest.raises(RuntimeConfigError, match=r"^/etc/containers/registries.conf is not valid TOML: line 5, column"):
        podman.plan(ADDRESSES, CA, "ca", "present", fs=fs)
    assert (tmp_path / "etc/containers/registries.conf").read_bytes() == broken
    assert not (tmp_path / "etc/containers/certs.d").exists()


def test_unparseable_dropin_of_someone_else_stops_the_plan_too(tmp_path):
    fs = host(tmp_path, {"/etc/containers/registries.conf.d/10-site.conf": b"[[registry]\n"})

    with pytest.raises(RuntimeConfigError, match=r"registries.conf.d/10-site.conf is not valid TOML: line 1"):
        podman.plan(ADDRESSES, CA, "ca", "present", fs=fs)


def test_entries_of_other_files_for_the_address_are_warned_about(tmp_path):
    fs = host(tmp_path, {
        "/etc/containers/registries.conf": b'[registries.insecure]\nregistries = ["192.0.2.10:5000"]\n',
        "/etc/containers/registries.conf.d/10-site.conf":
            b'[[registry]]\nlocation = "registry.example.test:5000"\n[[registry.mirror]]\nlocation = "m.example"\n'})

    in_ca_mode = podman.plan(ADDRESSES, CA, "ca", "present", fs=fs)
    in_insecure_mode = podman.plan(ADDRESSES, None, "insecure", "present", fs=fs)

    assert in_ca_mode.warnings == [("/etc/containers/registries.conf marks 192.0.2.10:5000 insecure: the "
                                   "containers/image tools do not verify its certificate whatever certs.d holds")]
    assert len(in_insecure_mode.warnings) == 2
    assert "10-site.conf has an entry for registry.example.test:5000" in in_insecure_mode.warnings[1]


def test_credentials_are_merged_into_auth_json_0600_keeping_other_entries_and_hidden_in_the_diff(tmp_path, run):
    other = {"auths": {"quay.io": {"auth": "b3RoZXI6eA=="}}, "credHelpers": {"gcr.io": "gcloud"}}
    fs = host(tmp_path, {"/root/.config/containers/auth.json": json.dumps(other).encode()})

    _result, outcome = run(podman.plan, fs, ADDRESSES, CA, "ca", "present", credentials=CREDENTIALS)

    path = tmp_path / "root/.config/containers/auth.json"
    written = json.loads(path.read_text())
    token = base64.b64encode(b"fleet:s3cret").decode()
    assert written == {"auths": {"quay.io": {"auth": "b3RoZXI6eA=="}, **{a: {"auth": token} for a in ADDRESSES}},
                       "credHelpers": {"gcr.io": "gcloud"}}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    auth_diff = next(d for d in outcome["diff"] if d["after_header"].endswith("auth.json"))
    assert "s3cret" not in json.dumps(outcome["diff"]) and token not in json.dumps(outcome["diff"])
    assert auth_diff["after"] == "(credentials, not shown)\n"
    assert podman.plan(ADDRESSES, CA, "ca", "present", credentials=CREDENTIALS, fs=fs).pending == []

    run(podman.plan, fs, ADDRESSES, None, "ca", "absent")
    assert json.loads(path.read_text()) == other


def test_podman_mirrors_are_a_docker_io_registry_in_the_dropin_in_ca_mode_too_and_trusted_as_the_registry(tmp_path, run):
    fs = host(tmp_path, {"/etc/containers/registries.conf": DEBIAN_REGISTRIES_CONF
                         + b'[[registry]]\nprefix = "docker.io"\nlocation = "docker.io"\n'})
    mirror = "mirror.example.test:5001"

    result, _outcome = run(podman.plan, fs, ADDRESSES, CA, "ca", "present", mirrors=[mirror])

    dropin = tmp_path / "etc/containers/registries.conf.d/50-dockyard-registry.conf"
    assert loads(dropin.read_bytes(), "d") == {"registry": [
        {"prefix": "docker.io", "location": "docker.io", "mirror": [{"location": mirror}]}]}
    assert (tmp_path / "etc/containers/certs.d" / mirror / "ca.crt").read_text() == CA
    assert result.warnings == [("/etc/containers/registries.conf has an entry for docker.io: /etc/containers/"
                                "registries.conf.d/50-dockyard-registry.conf replaces it with the mirrors' for the "
                                "containers/image tools (drop-ins come after registries.conf)")]
    assert podman.plan(ADDRESSES, CA, "ca", "present", mirrors=[mirror], fs=fs).pending == []

    run(podman.plan, fs, ADDRESSES[:1], None, "insecure", "present", mirrors=[mirror])
    assert loads(dropin.read_bytes(), "d") == {"registry": [
        {"location": ADDRESSES[0], "insecure": True},
        {"prefix": "docker.io", "location": "docker.io", "mirror": [{"location": mirror, "insecure": True}]}]}
    assert not (tmp_path / "etc/containers/certs.d" / mirror).exists()

    run(podman.plan, fs, ADDRESSES[:1], CA, "ca", "present")
    assert not dropin.exists()


def test_podman_presents_the_hosts_client_certificate_to_the_mirror_only_and_absent_removes_it(tmp_path, run):
    fs = host(tmp_path, {"/etc/containers/registries.conf": DEBIAN_REGISTRIES_CONF})
    mirror = "mirror.example.test:5001"
    client = ClientCertificate(b"-----BEGIN CERTIFICATE-----\nclient\n-----END CERTIFICATE-----\n",
                               b"-----BEGIN PRIVATE KEY-----\nsecret key\n-----END PRIVATE KEY-----\n")

    result, _outcome = run(podman.plan, fs, ADDRESSES, CA, "ca", "present", mirrors=[mirror], mirror_client=client)

    directory = tmp_path / "etc/containers/certs.d" / mirror
    assert sorted(os.listdir(directory)) == ["ca.crt", "client.cert", "client.key"]
    assert (directory / "client.key").read_bytes() == client.key
    assert stat.S_IMODE((directory / "client.key").stat().st_mode) == 0o400
    assert not (tmp_path / "etc/containers/certs.d" / ADDRESSES[0] / "client.cert").exists()
    assert "secret key" not in json.dumps([op.diff() for op in result.operations])
    assert podman.plan(ADDRESSES, CA, "ca", "present", mirrors=[mirror], mirror_client=client, fs=fs).pending == []

    run(podman.plan, fs, ADDRESSES, None, "ca", "absent", mirrors=[mirror], mirror_client=ClientCertificate(b"", b""))
    assert not directory.exists()


def test_logins_go_only_to_the_addresses_given_and_the_dropin_keeps_every_address(tmp_path, run):
    fs = host(tmp_path, {"/etc/containers/registries.conf": DEBIAN_REGISTRIES_CONF})
    run(podman.plan, fs, ADDRESSES, None, "insecure", "present")

    result, _outcome = run(podman.plan, fs, ADDRESSES, None, "insecure", "present", credentials=CREDENTIALS,
                           login_addresses=ADDRESSES[1:])

    assert [op.path for op in result.pending] == ["/root", "/root/.config", "/root/.config/containers",
                                                  "/root/.config/containers/auth.json"]
    written = json.loads((tmp_path / "root/.config/containers/auth.json").read_text())
    assert list(written["auths"]) == ADDRESSES[1:]


def test_auth_json_is_made_with_private_directories_where_there_is_none(tmp_path, run):
    fs = Filesystem(str(tmp_path))
    (tmp_path / "root").mkdir()

    run(podman.plan, fs, ADDRESSES[:1], CA, "ca", "present", credentials=CREDENTIALS)

    assert stat.S_IMODE(os.stat(tmp_path / "root/.config").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "root/.config/containers").st_mode) == 0o700


def test_unparseable_auth_json_names_its_line(tmp_path):
    fs = host(tmp_path, {"/root/.config/containers/auth.json": b'{\n  "auths": {\n}\n'})

    with pytest.raises(RuntimeConfigError, match=r"auth.json is not valid JSON: line 4, column 1"):
        podman.plan(ADDRESSES, CA, "ca", "present", credentials=CREDENTIALS, fs=fs)


def test_podman_trust_report(tmp_path, run):
    fs = host(tmp_path, {"/etc/docker/certs.d/192.0.2.10:5000/ca.crt": CA.encode()})

    before = podman.trust_report(ADDRESSES[0], fs)
    run(podman.plan, fs, ADDRESSES[:1], None, "insecure", "present")
    after = podman.trust_report(ADDRESSES[0], fs)

    assert before == {"runtime": "podman", "reads": ["/etc/docker/certs.d/192.0.2.10:5000/ca.crt"], "verifies": True,
                      "ca": ["/etc/docker/certs.d/192.0.2.10:5000/ca.crt"]}
    assert after["verifies"] is False
    assert after["reads"][-1] == "/etc/containers/registries.conf.d/50-dockyard-registry.conf"
