"""The fleet report at the end of the trust and probe playbooks, over a small fleet where some hosts fail.

The fleet: two containers of the molecule host image with the modules' libraries, reached with ``docker exec`` as
molecule reaches its hosts, and a host that cannot be reached. One container has a network, and trusts the site's
registry, logs in and probes it for real over TLS; the other has none (``--network none``), so that the probe of
the registry fails there as it does on a host cut off from it. The registry is the one the site playbook deploys
on this machine, trusted with the CA and the server certificate of the local inventory (copies, without the CA's
key), and the account ``dockyard`` of its ``registry_users``. No host of the fleet is this machine.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import uuid

import pytest
import yaml

from support import CA_PASSPHRASE, ROOT, local_account, run_module, run_playbook

HOST_IMAGE = yaml.safe_load((ROOT / "molecule" / "resources" / "docker_host.yml").read_text())[
    "dockyard_molecule_docker_host"]["libraries_image"]
LOCAL_PKI = ROOT / "inventories" / "local" / "pki"
TRUST_TASK = "registry_trust : Make this host trust the registry at every address, log it in and probe the registry"
PROBE_TASK = "Probe each registry address the way the Docker daemon connects"
CENSORED = "the output has been hidden due to the fact that 'no_log: true' was specified for this result"
SECRET = "an-inventory-secret-" + uuid.uuid4().hex


def closed_port(address: str) -> int:
    """A port of ``address`` where nothing listens (one the kernel just handed out, closed again)."""
    with socket.socket() as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]


class Fleet:
    def __init__(self, root, machine_ip: str) -> None:
        suffix = uuid.uuid4().hex[:6]
        self.good, self.cut, self.gone = (f"dockyard-report-{suffix}-{role}" for role in ("good", "cut", "gone"))
        self.reports = root / "reports"
        self.machine_ip = machine_ip
        for name, network in ((self.good, "bridge"), (self.cut, "none")):
            subprocess.run(["docker", "run", "--detach", "--name", name, f"--network={network}", HOST_IMAGE,
                            "/usr/bin/tini", "--", "sleep", "infinity"], check=True, capture_output=True)
        assert (LOCAL_PKI / "ca.crt").is_file() and local_account("dockyard"), (
            "the local inventory's CA and passwords are missing: run playbooks/site.yml first")
        pki = root / "pki"
        (pki / "servers").mkdir(parents=True)
        shutil.copy(LOCAL_PKI / "ca.crt", pki / "ca.crt")
        for certificate in (LOCAL_PKI / "servers").glob("*.crt"):
            shutil.copy(certificate, pki / "servers" / certificate.name)
        name, password = local_account("dockyard")
        containers = {"ansible_connection": "community.docker.docker", "ansible_python_interpreter": "/usr/bin/python3"}
        self.inventory = root / "hosts.yml"
        self.inventory.write_text(yaml.safe_dump({"all": {
            "vars": {"registry_pki_dir": str(pki), "registry_pki_ca_passphrase": CA_PASSPHRASE,
                     "registry_report_dir": str(self.reports),
                     "registry_users": [{"name": name, "password": password, "role": "pull"}],
                     "report_secret": SECRET},
            "children": {
                # The site's registry host, for its certificate's addresses only: no play here runs on it.
                "registry": {"hosts": {"dockyard-local": {"ansible_connection": "local"}}},
                "docker_hosts": {"hosts": {
                    self.good: containers, self.cut: containers,
                    self.gone: {"ansible_connection": "ssh", "ansible_host": machine_ip,
                                "ansible_port": closed_port(machine_ip)}}},
            }}}))
        self.inventory.chmod(0o600)

    def run(self, playbook: str, *extra: str, **variables):
        return run_playbook(playbook, *extra, inventory=self.inventory, extra_vars=variables or None)

    def read(self, container: str, path: str) -> str:
        return subprocess.run(["docker", "exec", container, "cat", path], check=True, capture_output=True,
                              text=True).stdout

    def remove(self) -> None:
        subprocess.run(["docker", "rm", "--force", self.good, self.cut], check=False, capture_output=True)


@pytest.fixture(scope="module")
def fleet(registry, machine_ip, tmp_path_factory):
    made = Fleet(tmp_path_factory.mktemp("fleet-report"), machine_ip)
    yield made
    made.remove()


def printed_report(run) -> list[list[str]]:
    """The report the run printed: its lines (header, one per host, summary), each split into its columns."""
    lines = run.output.split("FLEET REPORT ***")[1].splitlines()[1:]
    assert lines[0].split() == ["HOST", "RESULT", "RUNTIMES", "TRUST", "LOGIN", "PROBE", "REMEDY", "OR", "FAILURE"]
    starts = [lines[0].index(column) for column in ("RESULT", "RUNTIMES", "TRUST", "LOGIN", "PROBE", "REMEDY")]
    summary = next(index for index, line in enumerate(lines) if re.match(r"^\d+ hosts?: ", line))
    rows = [[line[start:end].strip() for start, end in zip([0, *starts], [*starts, None])]
            for line in lines[1:summary]]
    return rows + [[lines[summary]]]


def test_trust_reports_each_host_with_the_ones_to_fix_last(fleet):
    run = fleet.run("playbooks/trust.yml")  # in CA mode the hosts run in one play: both get to the trust task

    assert run.returncode != 0, str(run)
    report = json.loads((fleet.reports / "fleet-report.json").read_text())
    good = report["hosts"][0]
    files = good["runtimes"]["docker"]["in_force"]
    assert files, report
    # The files in force are the ones on the host, and the login went where the Docker client reads it.
    assert all(fleet.read(fleet.good, path) == (LOCAL_PKI / "ca.crt").read_text() for path in files)
    address = f"{fleet.machine_ip}:5000"
    assert address in json.loads(fleet.read(fleet.good, "/root/.docker/config.json"))["auths"]
    unresolved = good["probe"]["unresolved"]
    rows = printed_report(run)
    # The login's role, as the registry host's authenticating proxy named it to the probe.
    assert rows[0] == [fleet.good, "changed", "docker", f"ca, {len(files)} files", "yes (pull)", "ok",
                       f"not resolved here: {', '.join(unresolved)}" if unresolved else ""], str(run)
    cut = rows[1]
    assert cut[:6] == [fleet.cut, "failed", "docker", f"ca, {len(files)} files", "no", "unreachable"], str(run)
    assert cut[6].startswith(f"{TRUST_TASK}: {address}: unreachable: no TCP connection to {address}: "), cut
    assert rows[2][:6] == [fleet.gone, "unreachable", "-", "-", "-", "-"], str(run)
    assert rows[2][6].startswith(f"{TRUST_TASK}: "), rows[2]
    assert rows[3] == [f"3 hosts: 1 ok (1 changed), 2 to fix (1 failed, 1 unreachable): {fleet.gone}, {fleet.cut}"]
    assert f"Fleet report written to {fleet.reports}: fleet-report.json, fleet-report.md" in run.output

    assert report["playbooks"] == ["playbooks/trust.yml"]
    assert [(host["host"], host["result"]) for host in report["hosts"]] == [
        (fleet.good, "changed"), (fleet.cut, "failed"), (fleet.gone, "unreachable")]
    assert good["logins"][address] == "logged in"
    assert good["probe"]["addresses"][0]["status"] == "ok"
    assert good["login_role"] == "pull"
    assert report["hosts"][1]["probe"]["addresses"][0]["status"] == "unreachable"
    assert report["hosts"][1]["failure"]["play"] == "Make every Docker host trust the registry"
    markdown = (fleet.reports / "fleet-report.md").read_text()
    assert f"| {fleet.good} | changed | docker | ca, {len(files)} files | `{files[0]}`" in markdown
    assert f"| {fleet.gone} | unreachable | - | - | - | - | - | {TRUST_TASK}: " in markdown

    # Again, changing nothing, with --limit and registry_report_dir empty: the table only, for the host limited to.
    written = (fleet.reports / "fleet-report.json").read_text()
    again = fleet.run("playbooks/trust.yml", "--limit", fleet.good, registry_report_dir="")
    assert again.returncode == 0, str(again)
    assert again.recap[fleet.good]["changed"] == 0
    assert [row[:2] for row in printed_report(again)] == [[fleet.good, "ok"], ["1 host: 1 ok, 0 to fix"]]
    assert "Fleet report written" not in again.output
    assert (fleet.reports / "fleet-report.json").read_text() == written


def test_probe_reports_the_verdicts_and_the_login_it_finds(fleet):
    fleet.run("playbooks/trust.yml", "--limit", fleet.good)  # the login the probe finds

    run = fleet.run("playbooks/probe.yml")

    assert run.returncode != 0, str(run)
    rows = printed_report(run)
    address = f"{fleet.machine_ip}:5000"
    assert rows[0] == [fleet.good, "ok", "docker", "-", "yes (pull)", "ok", ""], str(run)
    assert rows[1][:6] == [fleet.cut, "failed", "docker", "-", "-", "unreachable"], str(run)
    assert rows[1][6].startswith("Fail the host where its Docker daemon could not use the registry: "
                                 f"{address}: unreachable: no TCP connection to {address}: "), rows[1]
    assert rows[2][:2] == [fleet.gone, "unreachable"] and rows[2][6].startswith(f"{PROBE_TASK}: "), str(run)
    report = json.loads((fleet.reports / "fleet-report.json").read_text())
    assert report["playbooks"] == ["playbooks/probe.yml"]
    assert report["hosts"][0]["probe"]["addresses"][0]["registry"] == address


def test_a_failure_before_the_probe_is_reported_censored_with_the_hosts_it_kept_from_running(fleet, tmp_path):
    playbook = tmp_path / "checked-probe.yml"
    playbook.write_text(yaml.safe_dump([
        {"name": "Check every host before any of them changes", "hosts": "docker_hosts", "gather_facts": False,
         "any_errors_fatal": True, "tasks": [
             {"name": "Refuse one host, naming a secret", "ansible.builtin.fail": {"msg": "{{ report_secret }}"},
              "no_log": True, "when": f"inventory_hostname == '{fleet.good}'"}]},
        {"name": "Probe the registry", "ansible.builtin.import_playbook": str(ROOT / "playbooks" / "probe.yml")},
    ]))

    run = fleet.run(str(playbook), registry_report_dir=str(tmp_path / "reports"))

    assert run.returncode != 0, str(run)
    rows = printed_report(run)
    stopped = f"the run stopped before it got here (failed: {fleet.good})"
    assert rows == [
        [fleet.cut, "not reached", "-", "-", "-", "-", stopped],
        [fleet.gone, "not reached", "-", "-", "-", "-", stopped],
        [fleet.good, "failed", "-", "-", "-", "-", f"Refuse one host, naming a secret: {CENSORED}"],
        [f"3 hosts: 0 ok, 3 to fix (2 not reached, 1 failed): {fleet.good}, {fleet.gone}, {fleet.cut}"],
    ], str(run)
    # The report keeps the secret out (ansible-core 2.19's own error line for the task, above it, does not).
    assert SECRET not in run.output.split("FLEET REPORT ***")[1]
    report = json.loads((tmp_path / "reports" / "fleet-report.json").read_text())
    assert report["hosts"][2]["failure"] == {"play": "Check every host before any of them changes",
                                             "task": "Refuse one host, naming a secret", "message": CENSORED,
                                             "unreachable": False}
    for name in ("fleet-report.json", "fleet-report.md"):
        assert SECRET not in (tmp_path / "reports" / name).read_text()


def test_a_run_that_neither_trusts_nor_probes_prints_no_report_nor_does_an_ad_hoc_command(fleet):
    run = fleet.run("playbooks/engine.yml", "--limit", fleet.good)
    assert run.returncode == 0, str(run)
    assert run.recap[fleet.good] == {"ok": 0, "changed": 0, "unreachable": 0, "failed": 0}
    assert "FLEET REPORT" not in run.output

    # The JSON an ad-hoc command prints stays JSON (run_module parses it): the report keeps out of it.
    probed = run_module("dockyard.registry.registry_probe", {"registry": f"{fleet.machine_ip}:5000"},
                        host=fleet.good, inventory=fleet.inventory)
    assert probed["status"] == "ok", probed
