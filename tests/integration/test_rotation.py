"""Certificate renewal and CA rollover, on registries of the tests' own (``IsolatedSite``), checked from outside.

The served certificate is read off the wire at this machine's default IPv4 address, and every pull goes through
this machine's Docker daemon, which trusts what ``certs.d`` holds: the shared registry on port 5000 is never touched.
"""

from __future__ import annotations

import datetime
import os
import re
import socket
import ssl
import stat
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from support import CERTS_D, IsolatedSite, PlaybookRun

PORTS = range(5350, 5400)  # bench/ keeps 5300-5349
SMOKE_REPOSITORY = "dockyard/smoke"
# The validity of a server certificate the role issues by default (registry_pki_server_not_after, "+365d").
SERVER_DAYS = int(yaml.safe_load((Path(__file__).parents[2] / "roles" / "registry_pki" / "defaults" / "main.yml")
                                 .read_text())["registry_pki_server_not_after"].strip("+d"))
SMOKE_DIGEST = re.compile(r"Smoke image: \S+ = (sha256:[0-9a-f]{64})")


def free_port() -> int:
    """A port of ``PORTS`` that nothing listens on and that no certs.d entry names."""
    for port in PORTS:
        if any(CERTS_D.glob(f"*:{port}")):
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("0.0.0.0", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


@pytest.fixture
def site(request, tmp_path) -> IsolatedSite:
    """A registry of the test's own, not deployed yet; removed afterwards, its certs.d entries with it."""
    isolated = IsolatedSite(tmp_path / "site", free_port(), f"dockyard-rotation-{uuid.uuid4().hex[:8]}")
    request.addfinalizer(isolated.remove)
    return isolated


def deploy(site: IsolatedSite, **variables) -> PlaybookRun:
    run = site.run(extra_vars=variables)
    assert run.returncode == 0, str(run)
    return run


def smoke_digest(run: PlaybookRun) -> str:
    """The digest of the image that site.yml's smoke play pushed, pulled back and verified."""
    found = SMOKE_DIGEST.search(run.output)
    assert found, str(run)
    return found[1]


def served_certificate(ip: str, port: int) -> x509.Certificate:
    """The certificate the registry presents, whoever issued it (verification is the tests' job here)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((ip, port), timeout=10) as raw, context.wrap_socket(raw) as tls:
        return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def key_id(certificate: x509.Certificate) -> bytes:
    return certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest


def issuer_key_id(certificate: x509.Certificate) -> bytes:
    return certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier


def pull_by_digest(reference: str) -> None:
    """Pull ``reference`` through this machine's daemon after removing it, so the pull really asks the registry."""
    subprocess.run(["docker", "rmi", reference], check=False, capture_output=True)
    pulled = subprocess.run(["docker", "pull", reference], check=False, capture_output=True, text=True)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    assert "Downloaded newer image" in pulled.stdout, pulled.stdout


def certs_d_entries(port: int) -> dict[str, dict[str, bytes]]:
    """What certs.d holds for the registry's port: address -> file name -> content."""
    return {entry.name: {child.name: child.read_bytes() for child in entry.iterdir()}
            for entry in CERTS_D.glob(f"*:{port}")}


def test_certificate_within_renew_before_is_renewed_and_a_node_pulls_right_after(site, machine_ip):
    first = deploy(site, registry_pki_server_not_after="+10d", registry_pki_renew_before=1)
    reference = f"{machine_ip}:{site.port}/{SMOKE_REPOSITORY}@{smoke_digest(first)}"
    ca_file = site.root / "pki" / "ca.crt"
    ca_before = ca_file.read_bytes()
    short_lived = served_certificate(machine_ip, site.port)
    assert short_lived.not_valid_after_utc < datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=11)

    # The defaults (renew within 30 days, 365 days of validity) put the 10-day certificate inside the window.
    renewing = deploy(site)
    renewed = served_certificate(machine_ip, site.port)
    expected_end = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=SERVER_DAYS)
    assert renewed.serial_number != short_lived.serial_number, str(renewing)
    assert abs(renewed.not_valid_after_utc - expected_end) < datetime.timedelta(hours=1)
    assert ca_file.read_bytes() == ca_before
    renewed.verify_directly_issued_by(load(ca_file))
    pull_by_digest(reference)

    again = deploy(site)
    assert again.changed == 0, str(again)
    assert served_certificate(machine_ip, site.port).serial_number == renewed.serial_number


def test_ca_rollover_in_three_runs_keeps_a_node_pulling_throughout(site, machine_ip):
    pki = site.root / "pki"
    deployed = deploy(site)
    reference = f"{machine_ip}:{site.port}/{SMOKE_REPOSITORY}@{smoke_digest(deployed)}"
    old_ca_pem = (pki / "ca.crt").read_bytes()
    old_ca = load(pki / "ca.crt")
    original = served_certificate(machine_ip, site.port)
    assert f"{machine_ip}:{site.port}" in certs_d_entries(site.port)

    # switch before stage: refused before anything changes.
    early_switch = site.run(extra_vars={"registry_pki_ca_rollover": "switch"})
    assert early_switch.returncode != 0, str(early_switch)
    assert (f"registry_pki_ca_rollover=switch needs the next CA, {pki}/ca-next.crt, and there is none. "
            "Run with -e registry_pki_ca_rollover=stage first") in early_switch.output, str(early_switch)
    assert early_switch.changed == 0, str(early_switch)
    assert not (pki / "ca-next.crt").exists()
    assert served_certificate(machine_ip, site.port).serial_number == original.serial_number

    # stage: every node trusts both CAs; the registry still serves the certificate of the old one.
    deploy(site, registry_pki_ca_rollover="stage")
    next_ca_pem = (pki / "ca-next.crt").read_bytes()
    next_ca = load(pki / "ca-next.crt")
    assert key_id(next_ca) != key_id(old_ca)
    assert stat.S_IMODE(os.stat(pki / "ca-next.key").st_mode) == 0o600
    assert certs_d_entries(site.port)
    for address, files in certs_d_entries(site.port).items():
        assert files == {"ca.crt": old_ca_pem, "ca-next.crt": next_ca_pem}, address
    staged = served_certificate(machine_ip, site.port)
    assert staged.serial_number == original.serial_number
    assert issuer_key_id(staged) == key_id(old_ca)

    # finish before switch: refused, naming the host whose certificate still comes from the old CA.
    early_finish = site.run(extra_vars={"registry_pki_ca_rollover": "finish"})
    assert early_finish.returncode != 0, str(early_finish)
    assert (f"the certificates of dockyard-local in {pki}/servers/ are not issued by the next CA: "
            "run with -e registry_pki_ca_rollover=switch first") in early_finish.output, str(early_finish)
    assert early_finish.changed == 0, str(early_finish)
    assert (pki / "ca.crt").read_bytes() == old_ca_pem

    # switch: the registry serves a certificate from the next CA, and the node pulls through it.
    deploy(site, registry_pki_ca_rollover="switch")
    switched = served_certificate(machine_ip, site.port)
    assert issuer_key_id(switched) == key_id(next_ca)
    switched.verify_directly_issued_by(next_ca)
    pull_by_digest(reference)

    # A run without a step keeps the certificate with the CA that issued it.
    between = deploy(site)
    assert between.changed == 0, str(between)
    assert served_certificate(machine_ip, site.port).serial_number == switched.serial_number

    # finish: the next CA is the only one; the old one is kept under retired/ on the controller only.
    deploy(site, registry_pki_ca_rollover="finish")
    assert (pki / "ca.crt").read_bytes() == next_ca_pem
    assert not (pki / "ca-next.crt").exists()
    assert not (pki / "ca-next.key").exists()
    retired = pki / "retired" / f"ca-{old_ca.serial_number:x}"
    assert Path(f"{retired}.crt").read_bytes() == old_ca_pem
    assert stat.S_IMODE(os.stat(f"{retired}.key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(pki / "retired").st_mode) == 0o700
    for address, files in certs_d_entries(site.port).items():
        assert files == {"ca.crt": next_ca_pem}, address
    assert served_certificate(machine_ip, site.port).serial_number == switched.serial_number
    pull_by_digest(reference)

    after = deploy(site)
    assert after.changed == 0, str(after)


BAD_INPUT = [
    ({"registry_pki_ca_rollover": "finish"},
     "registry_pki_ca_rollover=finish needs the next CA"),
    ({"registry_pki_ca_rollover": "rotate"},
     "registry_pki_ca_rollover must be one of"),
    ({"registry_pki_server_not_after": "+10d"},
     ("registry_pki_renew_before (30 days) must be smaller than the validity of a new server certificate, "
      "registry_pki_server_not_after (+10d)")),
    ({"registry_pki_renew_before": 0},
     "registry_pki_renew_before is a number of days, a positive integer; got 0."),
]


@pytest.mark.parametrize(("extra_vars", "message"), BAD_INPUT, ids=[str(case[0]) for case in BAD_INPUT])
def test_bad_rotation_input_fails_before_anything_changes(site, extra_vars, message):
    run = site.run(extra_vars=extra_vars)
    assert run.returncode != 0, str(run)
    assert message in run.output, str(run)
    assert run.changed == 0, str(run)
    assert not (site.root / "pki").exists()
