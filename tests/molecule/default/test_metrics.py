"""Metrics of the deployed registry, scraped by Debian's prometheus (`make prometheus-deps`) on this machine with the
scrape configurations and alert rules the collection ships (prometheus/): Distribution's /metrics through the registry
host's authenticating proxy (TLS, the monitoring account), and the collection's own metrics through node_exporter's
textfile collector on the registry host. A registry stopped here fires the alert DockyardRegistryDown.

The rules are the shipped ones with their `for:` durations left out, so that an alert fires within seconds of its
condition instead of minutes (promtool's unit tests, tests/unit/prometheus, cover the durations)."""

from __future__ import annotations

import datetime
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
import yaml
from conftest import run_ok
from cryptography import x509

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ROOT / "prometheus"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
NODE_EXPORTER_PORT = 9101
NODE_EXPORTER_PID = "/run/dockyard-test-node-exporter.pid"
SCRAPE_SECONDS = 1
# Only what each request names: no proxy or CA bundle from the environment.
HTTP = requests.Session()
HTTP.trust_env = False


def wait_for(what: str, probe, timeout: float = 30.0, interval: float = 0.5):
    """``probe()``'s first true value within ``timeout`` seconds; fails naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except requests.RequestException as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    pytest.fail(f"{what}: not within {timeout:.0f} s (last seen: {last!r})", pytrace=False)


@pytest.fixture(scope="module")
def settings(fleet) -> dict:
    variables = fleet.variables(fleet.registry)
    if not variables.get("registry_server_metrics_enabled"):
        pytest.skip("the scenario does not enable registry_server_metrics_enabled")
    return {
        "ip": fleet.registry_ips[0],
        "port": int(variables.get("registry_server_metrics_port", 5002)),
        "username": variables.get("registry_server_metrics_username", "dockyard-metrics"),
        "password_file": fleet.pki_dir / "secrets" / "metrics-password",
        "textfile_dir": variables.get("registry_server_metrics_textfile_dir", "/var/lib/prometheus/node-exporter"),
        "container": variables.get("registry_server_container_name", "dockyard-registry"),
    }


@pytest.fixture(scope="module")
def node_exporter(fleet, settings):
    """Debian's node_exporter on the registry host, reading the textfile directory. The host's root is an overlay,
    which node_exporter leaves out by default: here only proc and sysfs are."""
    host = fleet.host(fleet.registry)
    install = "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus-node-exporter"
    if not host.exists("prometheus-node-exporter"):
        run_ok(host, f"{install} >/dev/null || {{ apt-get update -qq && {install} >/dev/null; }}")
    address = f"{settings['ip']}:{NODE_EXPORTER_PORT}"
    log = "/var/log/dockyard-test-node-exporter.log"
    run_ok(host, "setsid -f sh -c 'echo $$ > %s; exec prometheus-node-exporter --web.listen-address=%s "
           "--collector.disable-defaults --collector.textfile --collector.textfile.directory=%s "
           "--collector.filesystem \"--collector.filesystem.fs-types-exclude=^(proc|sysfs)$\"' >%s 2>&1 </dev/null",
           NODE_EXPORTER_PID, address, settings["textfile_dir"], log)
    try:
        deadline = time.monotonic() + 30
        while not answers(f"http://{address}/metrics"):
            if time.monotonic() > deadline:
                pytest.fail(f"node_exporter at {address} does not answer: {host.run('cat %s', log).stdout}")
            time.sleep(0.5)
        yield address
    finally:
        host.run(f"kill $(cat {NODE_EXPORTER_PID}) && rm -f {NODE_EXPORTER_PID}")


def answers(url: str) -> bool:
    try:
        return HTTP.get(url, timeout=2).ok
    except requests.RequestException:
        return False


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def prometheus(fleet, settings, node_exporter, tmp_path_factory):
    """Prometheus on this machine, configured from the shipped files: targets, CA and password file filled in."""
    directory = tmp_path_factory.mktemp("prometheus")
    rules = yaml.safe_load((SHIPPED / "rules.yml").read_text())
    for group in rules["groups"]:
        group["interval"] = f"{SCRAPE_SECONDS}s"
        for rule in group["rules"]:
            rule.pop("for", None)
    (directory / "rules.yml").write_text(yaml.safe_dump(rules))
    (directory / "ca.crt").write_bytes(fleet.ca_pem)
    jobs = yaml.safe_load((SHIPPED / "scrape-configs.yml").read_text())["scrape_configs"]
    targets = {"dockyard-registry": f"{settings['ip']}:{settings['port']}", "dockyard-node": node_exporter}
    for job in jobs:
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
        if "tls_config" in job:
            job["tls_config"]["ca_file"] = str(directory / "ca.crt")
            job["basic_auth"] = {"username": settings["username"], "password_file": str(settings["password_file"])}
    config = {"global": {"scrape_interval": f"{SCRAPE_SECONDS}s", "scrape_timeout": f"{SCRAPE_SECONDS}s",
                         "evaluation_interval": f"{SCRAPE_SECONDS}s"},
              "rule_files": [str(directory / "rules.yml")], "scrape_configs": jobs}
    (directory / "prometheus.yml").write_text(yaml.safe_dump(config))
    listen = f"127.0.0.1:{free_port()}"
    log = (directory / "prometheus.log").open("w")
    process = subprocess.Popen([PROMETHEUS, f"--config.file={directory / 'prometheus.yml'}",
                                f"--storage.tsdb.path={directory / 'data'}", f"--web.listen-address={listen}"],
                               stdout=log, stderr=subprocess.STDOUT)
    api = f"http://{listen}/api/v1"
    try:
        wait_for("prometheus ready", lambda: process.poll() is None and answers(f"http://{listen}/-/ready"))
        yield api, targets
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def query(api: str, expression: str) -> list[dict]:
    answer = HTTP.get(f"{api}/query", params={"query": expression}, timeout=5).json()
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def firing(api: str, name: str) -> list[dict]:
    alerts = HTTP.get(f"{api}/alerts", timeout=5).json()["data"]["alerts"]
    return [alert for alert in alerts if alert["labels"]["alertname"] == name and alert["state"] == "firing"]


def test_prometheus_scrapes_the_registry_and_node_exporter_with_the_shipped_configuration(prometheus):
    api, targets = prometheus
    for job in targets:
        wait_for(f"up{{job={job!r}}} == 1", lambda job=job: query(api, f'up{{job="{job}"}} == 1'))
    names = query(api, 'count by (__name__) ({job="dockyard-registry", __name__=~"registry_.+"})')
    assert names, "the registry's /metrics holds no metric of Distribution's (registry_*)"


def test_the_certificates_expiry_is_what_the_certificates_say(fleet, settings, prometheus):
    api, _targets = prometheus
    host = fleet.host(fleet.registry)
    tls_dir = fleet.variables(fleet.registry).get("registry_server_tls_dir", "/etc/dockyard/registry/tls")
    for name in ("server", "ca"):
        certificate = x509.load_pem_x509_certificate(host.file(f"{tls_dir}/{name}.crt").content)
        expected = int((certificate.not_valid_after_utc if hasattr(certificate, "not_valid_after_utc")
                        else certificate.not_valid_after.replace(tzinfo=datetime.timezone.utc)).timestamp())
        found = wait_for(f"the {name} certificate's expiry", lambda name=name: query(
            api, f'dockyard_registry_certificate_expiry_timestamp_seconds{{certificate="{name}"}}'))
        assert [float(sample["value"][1]) for sample in found] == [expected]
        assert found[0]["metric"]["registry"] == settings["container"]
    # Far from expiry in this scenario: the alert stays quiet.
    assert firing(api, "DockyardRegistryCertificateExpiresSoon") == []


def test_the_storage_alert_finds_the_filesystem_that_holds_the_storage(fleet, prometheus):
    api, _targets = prometheus
    data_dir = fleet.variables(fleet.registry).get("registry_server_data_dir", "/var/lib/dockyard/registry")
    expression = ("node_filesystem_avail_bytes / node_filesystem_size_bytes * on(instance, job, mountpoint) "
                  "group_left(registry, path) dockyard_registry_storage_info")
    joined = wait_for("the storage alert's join", lambda: query(api, expression))
    assert [sample["metric"]["path"] for sample in joined] == [data_dir]
    assert firing(api, "DockyardRegistryStorageNearlyFull") == []


def test_the_metrics_port_serves_metrics_only_to_the_monitoring_account(fleet, settings, tmp_path):
    ca = tmp_path / "ca.crt"
    ca.write_bytes(fleet.ca_pem)
    base = f"https://{settings['ip']}:{settings['port']}"
    monitoring = (settings["username"], settings["password_file"].read_text().split()[0])
    pull_account = fleet.accounts("pull")[0]
    assert HTTP.get(f"{base}/metrics", verify=str(ca), timeout=5).status_code == 401
    assert HTTP.get(f"{base}/metrics", auth=pull_account, verify=str(ca), timeout=5).status_code == 401
    answer = HTTP.get(f"{base}/metrics", auth=monitoring, verify=str(ca), timeout=5)
    assert answer.status_code == 200 and "registry_" in answer.text
    # Nothing else of the registry's debug server (pprof, expvar, health).
    for path in ("/debug/pprof/", "/debug/vars", "/debug/health", "/v2/"):
        assert HTTP.get(f"{base}{path}", auth=monitoring, verify=str(ca), timeout=5).status_code == 404, path


def test_a_stopped_registry_fires_the_registry_down_alert(fleet, settings, prometheus):
    api, targets = prometheus
    target = targets["dockyard-registry"]
    wait_for("the registry up", lambda: query(api, 'up{job="dockyard-registry"} == 1'))
    assert firing(api, "DockyardRegistryDown") == []
    host = fleet.host(fleet.registry)
    run_ok(host, "docker stop --time 5 %s", settings["container"])
    try:
        alerts = wait_for("DockyardRegistryDown firing", lambda: firing(api, "DockyardRegistryDown"))
        assert [alert["labels"]["instance"] for alert in alerts] == [target]
        assert alerts[0]["labels"]["severity"] == "critical"
    finally:
        run_ok(host, "docker start %s", settings["container"])
    wait_for("DockyardRegistryDown resolved", lambda: query(api, 'up{job="dockyard-registry"} == 1')
             and not firing(api, "DockyardRegistryDown"))
