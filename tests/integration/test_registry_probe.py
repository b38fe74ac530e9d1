"""``dockyard.registry.registry_probe`` against registries made wrong on purpose, one per verdict.

Each registry is a container of the local registry image on a port of 5200-5299, at this machine's
non-loopback address, with certificates this file makes. Where the Docker daemon can be asked too, it is:
the probe's verdict must be the failure the daemon reports.
"""

from __future__ import annotations

import contextlib
import datetime
import re
import socket
import time
import uuid

import docker
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from scratch_registry import CA, PORTS, ScratchRegistry, ServerCertificate, certs_d_entry, free_port, htpasswd_line
from x509_certificates import DAY, Authority, key_usage, resign, small_rsa_key

from support import run_module, run_playbook

MODULE = "dockyard.registry.registry_probe"
DEBIAN_PYTHON = "/usr/bin/python3"  # with python3-cryptography (make test-deps installs it)
UTC = datetime.timezone.utc


@pytest.fixture(scope="module")
def trusted_ca() -> CA:
    return CA("probe test CA")


@pytest.fixture
def scratch(machine_ip, tmp_path, trusted_ca, scratch_registry_image):
    """Start a registry: ``scratch(certificate=..., htpasswd=..., trust=CA or None)``; all removed afterwards."""
    with contextlib.ExitStack() as stack:
        def start(certificate=None, htpasswd=None, trust=trusted_ca) -> ScratchRegistry:
            port = free_port(PORTS, machine_ip)
            registry = stack.enter_context(ScratchRegistry(
                f"dockyard-probe-{uuid.uuid4().hex[:8]}", machine_ip, port, tmp_path / str(port),
                certificate=certificate, htpasswd=htpasswd))
            if trust is not None:
                stack.enter_context(certs_d_entry(registry.address, trust.pem))
            return registry
        yield start


def probe(registry: str, *extra: str, **options) -> dict:
    result = run_module(MODULE, {"registry": registry, **options}, *extra)
    assert not result.get("failed"), result
    assert result["changed"] is False
    return result


def daemon_error(daemon, address: str) -> str:
    """What the Docker daemon says when it pulls from ``address`` (a pull that must fail)."""
    with pytest.raises(docker.errors.APIError) as raised:
        daemon.images.pull(f"{address}/probe/none", tag="1")
    return str(raised.value)


def test_a_registry_the_daemon_trusts_is_ok_in_every_mode(scratch, trusted_ca, machine_ip):
    registry = scratch(trusted_ca.issue([machine_ip, "registry.probe.invalid"]))
    for mode in (("--check",), (), ("--check",), ()):
        result = probe(registry.address, *mode)
        assert (result["status"], result["remedy"], result["problems"]) == ("ok", "", []), mode
    assert result["http_status"] == 200
    assert result["certificate"]["subject"] == f"CN={machine_ip}"
    assert result["certificate"]["issuer"] == "CN=probe test CA"
    assert result["certificate"]["sans"] == ["registry.probe.invalid", machine_ip]
    assert result["trusted_cas"].endswith(f"/etc/docker/certs.d/{registry.address}/ca.crt")
    assert result["daemon_go"] == "Go 1.19.8, read from /usr/sbin/dockerd"  # this machine's docker.io
    assert result["detail"] == (f"GET https://{registry.address}/v2/ answered 200 OK "
                                "(Docker-Distribution-Api-Version: registry/2.0)")


def test_a_certificate_from_another_ca_is_an_unknown_authority(scratch, machine_ip, daemon):
    stranger = CA("stranger CA")
    registry = scratch(stranger.issue([machine_ip]))
    result = probe(registry.address)
    said = daemon_error(daemon, registry.address)
    assert daemon_cause(said) == "x509: certificate signed by unknown authority"
    assert result["status"] == "unknown_authority"
    assert result["detail"] == ("the certificate's issuer 'stranger CA' is neither a trusted CA nor signed by one "
                                "(x509: certificate signed by unknown authority)")
    assert result["remedy"].startswith("Put the CA that signed the registry's certificate (issuer CN=stranger CA) in "
                                       f"/etc/docker/certs.d/{registry.address}/ca.crt on this host")


def test_a_registry_without_a_certs_d_entry_is_an_unknown_authority(scratch, trusted_ca, machine_ip):
    registry = scratch(trusted_ca.issue([machine_ip]), trust=None)
    result = probe(registry.address)
    assert result["status"] == "unknown_authority"
    assert "(no *.crt in" in result["trusted_cas"]


def test_ca_path_replaces_certs_d(scratch, trusted_ca, machine_ip, tmp_path):
    registry = scratch(trusted_ca.issue([machine_ip]), trust=CA("unrelated CA"))
    assert probe(registry.address)["status"] == "unknown_authority"
    (tmp_path / "ca.pem").write_bytes(trusted_ca.pem)
    assert probe(registry.address, ca_path=str(tmp_path / "ca.pem"))["status"] == "ok"


def test_a_certificate_without_the_ip_san_is_a_hostname_mismatch(scratch, trusted_ca, machine_ip, daemon):
    registry = scratch(trusted_ca.issue(["registry.probe.invalid"], common_name=machine_ip))
    result = probe(registry.address)
    assert (result["status"], result["problems"]) == ("hostname_mismatch", ["hostname_mismatch"])
    assert result["detail"] == (f"the certificate does not name {machine_ip}: it has no IP SANs (x509: cannot validate "
                                f"certificate for {machine_ip} because it doesn't contain any IP SANs)")
    assert result["remedy"] == (
        f"Reissue the registry's certificate with {machine_ip} among its subject alternative names (add it to "
        "registry_names and run the dockyard.registry.site playbook), or address the registry by a name it has: registry.probe.invalid.")
    assert result["certificate"]["sans"] == ["registry.probe.invalid"]
    assert result["detail"].endswith(f"({daemon_cause(daemon_error(daemon, registry.address))})")


def test_an_expired_certificate(scratch, trusted_ca, machine_ip, daemon):
    now = datetime.datetime.now(UTC).replace(microsecond=0)
    registry = scratch(trusted_ca.issue([machine_ip], not_before=now - datetime.timedelta(days=60),
                                        not_after=now - datetime.timedelta(days=1)))
    result = probe(registry.address)
    expired_at = (now - datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (result["status"], result["certificate"]["not_after"]) == ("expired", expired_at)
    said = daemon_cause(daemon_error(daemon, registry.address))
    assert without_clock(said) == ("x509: certificate has expired or is not yet valid: current time <now> is after "
                                   f"{expired_at}")
    assert without_clock(result["detail"]) == f"the certificate expired at {expired_at} ({without_clock(said)})"
    assert result["remedy"].startswith(f"Renew the registry's certificate (valid until {expired_at})")


def test_a_certificate_valid_only_from_tomorrow(scratch, trusted_ca, machine_ip, daemon):
    now = datetime.datetime.now(UTC).replace(microsecond=0)
    registry = scratch(trusted_ca.issue([machine_ip], not_before=now + datetime.timedelta(days=1),
                                        not_after=now + datetime.timedelta(days=30)))
    result = probe(registry.address)
    valid_from = (now + datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (result["status"], result["certificate"]["not_before"]) == ("not_yet_valid", valid_from)
    assert result["remedy"].startswith(f"The certificate is valid only from {valid_from}: fix the clock")
    assert "x509: certificate has expired or is not yet valid" in daemon_error(daemon, registry.address)


def test_expired_and_from_another_ca_lists_both_problems_in_the_daemons_order(scratch, machine_ip):
    now = datetime.datetime.now(UTC)
    registry = scratch(CA("stranger CA").issue(["elsewhere.invalid"], not_before=now - datetime.timedelta(days=9),
                                               not_after=now - datetime.timedelta(days=2)))
    result = probe(registry.address)
    assert result["problems"] == ["expired", "hostname_mismatch", "unknown_authority"]
    assert result["status"] == "expired"


def test_a_plain_http_registry_is_a_plain_http_port(scratch, daemon):
    registry = scratch(None, trust=None)
    result = probe(registry.address)
    assert result["status"] == "plain_http_port"
    assert result["detail"] == f"{registry.address} answered the TLS handshake with plain HTTP: 'HTTP/1.1 400 Bad Request'"
    assert "certificate" not in result
    # What the daemon (Docker 20.10, Go 1.19) prints for the very same registry:
    assert "http: server gave HTTP response to HTTPS client" in daemon_error(daemon, registry.address)


def test_plain_http_to_a_tls_registry_is_https_expected(scratch, trusted_ca, machine_ip):
    registry = scratch(trusted_ca.issue([machine_ip]))
    result = probe(f"http://{registry.address}")
    assert (result["status"], result["http_status"]) == ("https_expected", 400)
    assert result["detail"] == (f"GET http://{registry.address}/v2/ answered 400 Bad Request: "
                                "Client sent an HTTP request to an HTTPS server.")
    assert result["remedy"].startswith(f"{registry.address} serves TLS: reach it over HTTPS")


def test_plain_http_to_a_plain_registry_is_ok(scratch):
    registry = scratch(None, trust=None)
    result = probe(f"http://{registry.address}")
    assert (result["status"], result["url"]) == ("ok", f"http://{registry.address}/v2/")


def test_a_closed_port_is_connection_refused(machine_ip, daemon):
    port = free_port(PORTS, machine_ip)
    result = probe(f"{machine_ip}:{port}")
    assert result["status"] == "connection_refused"
    assert result["detail"] == f"{machine_ip}:{port} refused the TCP connection"
    assert "connect: connection refused" in daemon_error(daemon, f"{machine_ip}:{port}")


def test_a_port_that_never_answers_the_handshake_is_a_timeout(machine_ip):
    port = free_port(PORTS, machine_ip)
    with socket.socket() as silent:
        silent.bind((machine_ip, port))
        silent.listen(8)  # the kernel completes the TCP handshake; nobody ever reads or answers
        started = time.monotonic()
        result = probe(f"{machine_ip}:{port}", timeout=2)
        elapsed = time.monotonic() - started
    assert result["status"] == "timeout"
    assert result["detail"] == (f"{machine_ip}:{port} accepted the connection but sent nothing for 2 seconds during "
                                "the TLS handshake")
    assert result["remedy"].startswith(f"{machine_ip}:{port} did not answer within 2 seconds")
    assert elapsed < 15


def test_a_registry_with_htpasswd_is_auth_required(scratch, trusted_ca, machine_ip, daemon):
    registry = scratch(trusted_ca.issue([machine_ip]), htpasswd=htpasswd_line("dockyard", uuid.uuid4().hex))
    result = probe(registry.address)
    assert (result["status"], result["http_status"], result["problems"]) == ("auth_required", 401, [])
    assert result["detail"] == (f"GET https://{registry.address}/v2/ answered 401 Unauthorized asking for "
                                'Basic realm="dockyard scratch"')
    assert result["remedy"].startswith(f"The registry needs credentials: run docker login {registry.address}")
    assert "no basic auth credentials" in daemon_error(daemon, registry.address)


def test_an_address_that_is_not_host_port_fails_the_task():
    result = run_module(MODULE, {"registry": "registry.example.com:5000/team/app"})
    assert result["failed"] is True
    assert result["msg"] == ("registry: 'registry.example.com:5000/team/app' is not host:port; give the address "
                             "without a path, for example registry.example.com:5000")


# playbooks/probe.yml, as site.yml runs it


def test_probe_playbook_passes_for_the_site_registry_and_changes_nothing(registry):
    run = run_playbook("playbooks/probe.yml")
    assert run.returncode == 0, str(run)
    assert run.changed == 0, str(run)
    assert f"{registry.address}: ok" in run.output, str(run)


def test_probe_playbook_fails_the_host_with_the_remedy(machine_ip, registry):
    port = free_port(PORTS, machine_ip)
    run = run_playbook("playbooks/probe.yml", extra_vars={"registry_probe_addresses": [f"{machine_ip}:{port}"]})
    assert run.returncode != 0, str(run)
    assert run.recap["dockyard-local"]["failed"] == 1, str(run)
    assert (f"{machine_ip}:{port}: connection_refused: {machine_ip}:{port} refused the TCP connection. "
            f"Nothing listens on {machine_ip}:{port}: start the registry") in " ".join(run.output.split()), str(run)


# Go's verifier, rule by rule: a registry serves a certificate that breaks one rule, the daemon pulls from it, and
# the probe must give the verdict of the daemon's message, with that message in its detail.

RSA_KEY = rsa.generate_private_key(65537, 2048)
WEAK_KEY = small_rsa_key(768)
ODD_EXTENSION = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00")


def _served(authority: Authority, names, *, chain=(), key=None, algorithm=None, **options) -> ServerCertificate:
    certificate, key = authority.issue_with_key(names, key=key, **options)
    if algorithm:
        certificate = resign(certificate, authority.key, algorithm)
    return ServerCertificate(certificate, key, tuple(chain))


def _under(root: Authority, **options) -> Authority:
    return Authority("dockyard probe intermediate", root, **options)


def _version1_intermediate(root: Authority) -> Authority:
    intermediate = Authority("dockyard probe v1 intermediate", root, ca=None)
    intermediate.certificate = resign(intermediate.certificate, root.key, "sha256-rsa", version1=True)
    return intermediate


def case_expired_root(ip):
    root = Authority("expired CA", not_before=_now() - 90 * DAY, not_after=_now() - DAY)
    return _served(root, [ip]), root


def case_intermediate_not_yet_valid(ip):
    root = Authority("probe root CA")
    intermediate = _under(root, not_before=_now() + DAY, not_after=_now() + 90 * DAY)
    return _served(intermediate, [ip], chain=[intermediate.certificate]), root


def case_sha1_signature(ip):
    root = Authority("probe RSA CA", key=RSA_KEY)
    return _served(root, [ip], algorithm="sha1-rsa"), root


def case_md5_signature(ip):
    root = Authority("probe RSA CA", key=RSA_KEY)
    return _served(root, [ip], algorithm="md5-rsa"), root


def case_intermediate_without_ca_true(ip):
    root = Authority("probe root CA")
    intermediate = _under(root, ca=False)
    return _served(intermediate, [ip], chain=[intermediate.certificate]), root


def case_ca_without_key_cert_sign(ip):
    root = Authority("signing-only CA", usage=key_usage("digital_signature", "crl_sign"))
    return _served(root, [ip]), root


def case_version_1_intermediate(ip):
    root = Authority("probe RSA CA", key=RSA_KEY)
    intermediate = _version1_intermediate(root)
    return _served(intermediate, [ip], chain=[intermediate.certificate]), root


def case_path_length(ip):
    root = Authority("probe root CA", path_length=0)
    intermediate = _under(root)
    return _served(intermediate, [ip], chain=[intermediate.certificate]), root


def case_leaf_for_clients_only(ip):
    root = Authority("probe root CA")
    return _served(root, [ip], extended_usage=[ExtendedKeyUsageOID.CLIENT_AUTH]), root


def case_intermediate_for_clients_only(ip):
    root = Authority("probe root CA")
    intermediate = _under(root, extended_usage=[ExtendedKeyUsageOID.CLIENT_AUTH])
    return _served(intermediate, [ip], chain=[intermediate.certificate],
                   extended_usage=[ExtendedKeyUsageOID.SERVER_AUTH]), root


def case_ip_not_permitted(ip):
    root = Authority("constrained CA", permitted=["probe.invalid", "10.0.0.0/8"])
    return _served(root, [ip, "registry.probe.invalid"]), root


def case_other_name_excluded(ip):
    root = Authority("constrained CA", excluded=["old.probe.invalid"])
    return _served(root, [ip, "registry.old.probe.invalid"]), root


def case_unknown_critical_extension_on_the_leaf(ip):
    root = Authority("probe root CA")
    return _served(root, [ip], extensions=[(ODD_EXTENSION, True)]), root


def case_unknown_critical_extension_on_the_ca(ip):
    root = Authority("odd CA", extensions=[(ODD_EXTENSION, True)])
    return _served(root, [ip]), root


def case_policy_constraints_before_go_1_24(ip):
    constraints = x509.PolicyConstraints(require_explicit_policy=None, inhibit_policy_mapping=0)
    root = Authority("policy CA", extensions=[(constraints, True)])
    return _served(root, [ip]), root


def case_common_name_only(ip):
    root = Authority("probe root CA")
    return _served(root, [], common_name=ip), root


# What the daemon (Go 1.19) accepts, and the probe must accept too.


def case_weak_rsa_ca(ip):
    root = Authority("weak RSA CA", key=WEAK_KEY)
    return _served(root, [ip]), root


def case_weak_rsa_leaf(ip):
    root = Authority("probe root CA")
    return _served(root, [ip], key=WEAK_KEY), root


def case_rsa_pss_signature(ip):
    root = Authority("probe RSA CA", key=RSA_KEY)
    return _served(root, [ip], algorithm="sha256-rsapss"), root


def case_leaf_key_usage_is_ignored(ip):
    root = Authority("probe root CA")
    return _served(root, [ip], usage=key_usage("data_encipherment")), root


def _now():
    return datetime.datetime.now(UTC)


# (case, the probe's verdict, what the daemon's message says)
GO_RULES = [
    (case_expired_root, "expired", "x509: certificate has expired or is not yet valid: current time"),
    (case_intermediate_not_yet_valid, "not_yet_valid", "x509: certificate has expired or is not yet valid: current time"),
    (case_sha1_signature, "unknown_authority", "insecure algorithm SHA1-RSA (temporarily override with GODEBUG"),
    (case_md5_signature, "unknown_authority", "insecure algorithm MD5-RSA"),
    (case_intermediate_without_ca_true, "unknown_authority", "parent certificate cannot sign this kind of certificate"),
    (case_ca_without_key_cert_sign, "unknown_authority", "parent certificate cannot sign this kind of certificate"),
    (case_version_1_intermediate, "invalid_certificate", "x509: certificate is not authorized to sign other certificates"),
    (case_path_length, "invalid_certificate", "x509: too many intermediates for path length constraint"),
    (case_leaf_for_clients_only, "invalid_certificate", "x509: certificate specifies an incompatible key usage"),
    (case_intermediate_for_clients_only, "invalid_certificate", "x509: certificate specifies an incompatible key usage"),
    (case_ip_not_permitted, "invalid_certificate", "is not authorized to sign for this name: IP address"),
    (case_other_name_excluded, "invalid_certificate",
     'is not authorized to sign for this name: DNS name "registry.old.probe.invalid" is excluded by constraint'),
    (case_unknown_critical_extension_on_the_leaf, "invalid_certificate", "x509: unhandled critical extension"),
    (case_unknown_critical_extension_on_the_ca, "invalid_certificate", "x509: unhandled critical extension"),
    (case_policy_constraints_before_go_1_24, "invalid_certificate", "x509: unhandled critical extension"),
    (case_common_name_only, "hostname_mismatch", "x509: certificate relies on legacy Common Name field"),
    (case_weak_rsa_ca, "ok", "manifest unknown"),
    (case_weak_rsa_leaf, "ok", "manifest unknown"),
    (case_rsa_pss_signature, "ok", "manifest unknown"),
    (case_leaf_key_usage_is_ignored, "ok", "manifest unknown"),
]


def daemon_cause(message: str) -> str:
    """What the daemon's pull error says about the registry, after ``Get "https://.../v2/": ``."""
    found = re.search(r'/v2/": (.*)"\)$', message)
    return found.group(1) if found else message


def without_clock(text: str) -> str:
    return re.sub(r"current time \S+", "current time <now>", text)


@pytest.mark.parametrize(("case", "verdict", "daemon_says"), GO_RULES, ids=[rule[0].__name__[5:] for rule in GO_RULES])
def test_the_probe_agrees_with_the_daemon(scratch, machine_ip, daemon, case, verdict, daemon_says):
    served, trusted = case(machine_ip)
    registry = scratch(served, trust=trusted)
    said = daemon_error(daemon, registry.address)
    assert daemon_says in said, said
    result = probe(registry.address)
    assert result["status"] == verdict, result
    assert result["daemon_go"].startswith("Go 1.19.8, read from "), result["daemon_go"]
    if verdict == "ok":
        assert result["problems"] == [] and result["http_status"] == 200, result
    else:
        # The daemon's words, as the daemon printed them, end the first problem's explanation.
        assert without_clock(f"({daemon_cause(said)})") in without_clock(result["detail"]), (said, result["detail"])
        assert result["problems"][0] == verdict
        assert result["remedy"], result
    # The same under the host's own Python and Debian's cryptography (38), the oldest the module takes.
    on_debian = probe(registry.address, "-e", f"ansible_python_interpreter={DEBIAN_PYTHON}")
    assert (on_debian["status"], without_clock(on_debian["detail"]), on_debian["remedy"]) == (
        result["status"], without_clock(result["detail"]), result["remedy"])
