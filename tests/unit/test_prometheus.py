"""The metrics the collection ships: its alert rules and scrape configurations read by Debian's Prometheus (promtool),
and the files the registry_metrics module writes for node_exporter's textfile collector, run as Ansible runs it and
checked by promtool. `make unit-deps` installs Debian's prometheus package (promtool)."""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from module_process import run_module as run_module_process
from x509_certificates import DAY, Authority

from ansible_collections.dockyard.registry.plugins.module_utils._metrics import parse_samples
from ansible_collections.dockyard.registry.plugins.module_utils._x509 import not_after

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "prometheus" / "rules.yml"
SCRAPE_CONFIGS = ROOT / "prometheus" / "scrape-configs.yml"
RULES_TEST = ROOT / "tests" / "unit" / "prometheus" / "rules_test.yml"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    if not os.path.exists(PROMTOOL):
        pytest.fail("promtool is missing: `make unit-deps` installs Debian's prometheus package")
    return subprocess.run([PROMTOOL, *args], input=stdin, capture_output=True, text=True, check=False, timeout=60)


def run_module(args: dict, tmp_path: Path, check_mode: bool = False) -> dict:
    return run_module_process("registry_metrics", args, tmp_path, check_mode)


# --- The shipped rules and scrape configurations ---

def alert_names() -> list[str]:
    return [rule["alert"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def test_the_shipped_rules_pass_promtool_check_rules():
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(alert_names())} rules found" in checked.stdout


def test_each_alert_fires_and_stays_quiet_as_its_promtool_unit_test_expects():
    tested = promtool("test", "rules", str(RULES_TEST))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_has_a_unit_test_where_it_fires_and_one_where_it_does_not():
    tests = yaml.safe_load(RULES_TEST.read_text())["tests"]
    cases = [case for test in tests for case in test["alert_rule_test"]]
    for alert in alert_names():
        expected = [case["exp_alerts"] for case in cases if case["alertname"] == alert]
        assert any(expected), f"{alert}: no unit test where it fires"
        # Where it fires, the test's other series (a healthy registry) must stay out of exp_alerts.
        assert [] in expected or any(len(test["input_series"]) > 1 for test in tests
                                     if any(case["alertname"] == alert for case in test["alert_rule_test"])), (
            f"{alert}: no unit test where it does not fire")


def test_the_shipped_scrape_configurations_pass_promtool_check_config(tmp_path):
    config = tmp_path / "prometheus.yml"
    shipped = yaml.safe_load(SCRAPE_CONFIGS.read_text())
    config.write_text(yaml.safe_dump({"global": {"scrape_interval": "30s"}, "rule_files": [str(RULES)], **shipped}))
    checked = promtool("check", "config", str(config))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    jobs = {job["job_name"] for job in shipped["scrape_configs"]}
    rules = RULES.read_text()
    assert jobs == {"dockyard-registry", "dockyard-node"}
    assert 'job="dockyard-registry"' in rules


# --- The registry_metrics module ---

@pytest.fixture
def certificates(tmp_path) -> dict[str, Path]:
    """A CA that expires in 400 days and a server certificate it issued that expires in 20."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca = Authority("dockyard test CA", now=now, not_after=now + 400 * DAY)
    server = ca.issue(["registry.test"], not_after=now + 20 * DAY)
    paths = {"ca": tmp_path / "ca.crt", "server": tmp_path / "server.crt"}
    paths["ca"].write_bytes(ca.pem)
    paths["server"].write_bytes(server.public_bytes(serialization.Encoding.PEM) + ca.pem)
    return paths


def test_the_certificates_expiry_is_written_once_in_the_format_promtool_accepts(tmp_path, certificates):
    path = tmp_path / "textfile" / "dockyard-registry.prom"
    args = {"path": str(path), "labels": {"registry": "dockyard-registry"}, "storage": str(tmp_path),
            "certificates": [{"name": name, "path": str(file)} for name, file in certificates.items()],
            "metrics": [{"name": "dockyard_registry_gc_interval_seconds", "help": "Most seconds.", "value": "86400"}]}
    predicted = run_module(args, tmp_path, check_mode=True)
    assert predicted["changed"] and not path.exists()
    first = run_module(args, tmp_path)
    assert first["changed"], first
    text = path.read_text()
    assert text == predicted["content"] == first["content"]
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    checked = promtool("check", "metrics", stdin=text)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for name, file in certificates.items():
        expiry = int(not_after(x509.load_pem_x509_certificate(file.read_bytes())).timestamp())
        sample = (f'dockyard_registry_certificate_expiry_timestamp_seconds{{certificate="{name}",'
                  f'registry="dockyard-registry"}} {expiry}')
        assert sample in text.splitlines(), text
    assert 'dockyard_registry_gc_interval_seconds{registry="dockyard-registry"} 86400' in text
    assert '",path="' in text and 'dockyard_registry_storage_info{mountpoint="/' in text
    assert run_module(args, tmp_path)["changed"] is False


def test_a_value_left_empty_keeps_the_one_an_earlier_run_wrote(tmp_path):
    path = tmp_path / "interval.prom"

    def write(value) -> str:
        run = run_module({"path": str(path), "labels": {"registry": "r"}, "metrics": [
            {"name": "dockyard_registry_gc_interval_seconds", "value": value}]}, tmp_path)
        assert not run.get("failed"), run
        return path.read_text()

    assert "dockyard_registry_gc_interval_seconds" not in write("")
    write(86400)
    assert 'dockyard_registry_gc_interval_seconds{registry="r"} 86400' in write(None)


def test_a_failed_collection_keeps_the_time_of_the_last_success_in_the_gc_record(tmp_path):
    path = tmp_path / "gc.prom"

    def record(**gc_run) -> dict[str, str]:
        run = run_module({"path": str(path), "labels": {"registry": "r"}, "gc_run": gc_run}, tmp_path)
        assert not run.get("failed"), run
        checked = promtool("check", "metrics", stdin=path.read_text())
        assert checked.returncode == 0, checked.stdout + checked.stderr
        return dict(parse_samples(path.read_text()))

    failed_first = record(success=False)
    assert 'dockyard_registry_gc_last_success_timestamp_seconds{registry="r"}' not in failed_first
    assert 'dockyard_registry_gc_freed_bytes{registry="r"}' not in failed_first
    succeeded = record(success=True, deleted_blobs=3, deleted_manifests=1, freed_bytes="4096")
    assert succeeded['dockyard_registry_gc_deleted_blobs{registry="r"}'] == "3"
    assert succeeded['dockyard_registry_gc_deleted_manifests{registry="r"}'] == "1"
    assert succeeded['dockyard_registry_gc_freed_bytes{registry="r"}'] == "4096"
    success_time = succeeded['dockyard_registry_gc_last_success_timestamp_seconds{registry="r"}']
    assert success_time == succeeded['dockyard_registry_gc_last_run_timestamp_seconds{registry="r"}']
    time.sleep(1.1)
    after_failure = record(success=False, freed_bytes="")
    assert after_failure['dockyard_registry_gc_last_run_success{registry="r"}'] == "0"
    assert int(after_failure['dockyard_registry_gc_last_run_timestamp_seconds{registry="r"}']) > int(success_time)
    assert after_failure['dockyard_registry_gc_last_success_timestamp_seconds{registry="r"}'] == success_time
    assert after_failure['dockyard_registry_gc_freed_bytes{registry="r"}'] == "4096"


@pytest.mark.parametrize(("args", "message"), [
    ({"metrics": [{"name": "dockyard-registry", "value": 1}]}, "metrics: 'dockyard-registry' is not a metric name"),
    ({"metrics": [{"name": "x", "value": "soon"}]}, "metrics: x: could not convert string to float"),
    ({"certificates": [{"name": "server", "path": "/nonexistent/server.crt"}]},
     "certificates: server: /nonexistent/server.crt is not a readable PEM certificate"),
])
def test_bad_input_is_refused_naming_the_option_and_nothing_is_written(tmp_path, args, message):
    path = tmp_path / "bad.prom"
    run = run_module({"path": str(path), **args}, tmp_path)
    assert run["failed"] and run["msg"].startswith(message), run
    assert not path.exists()


def test_a_file_the_textfile_collector_would_not_read_is_refused(tmp_path):
    run = run_module({"path": str(tmp_path / "metrics.txt")}, tmp_path)
    assert run["failed"] and run["msg"].startswith("path: ") and ".prom" in run["msg"]
