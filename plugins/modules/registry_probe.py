# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_probe
short_description: Tell whether this Docker host can reach a registry, and if not, which known failure it is
version_added: 0.1.0
description:
  - Connects to a registry from the host it runs on the way the Docker daemon there would, and returns a verdict
    in RV(status) with a one-line RV(remedy), instead of the daemon's error message.
  - Over TLS it trusts what the daemon trusts for the address, the system roots and every C(*.crt) in
    C(/etc/docker/certs.d/<host:port>/), presents the C(*.cert)/C(*.key) pair found there, sends the host name as
    SNI (none for an IP address, as Go does), and asks TLS 1.2 or later. C(REQUESTS_CA_BUNDLE) and proxy variables
    are ignored, as the daemon ignores them.
  - It completes the TLS handshake without verification, then judges the certificate itself, following Go's
    C(crypto/tls) and C(crypto/x509) step by step, so that RV(status) is the failure the daemon reports first and
    RV(detail) ends with the daemon's own words. Every certificate the server sent must be one Go reads; the leaf
    must have no critical extension Go does not handle and be inside its dates; the address must be among its
    subject alternative names (never the common name; an IP address must be an IP SAN); a chain must lead to a
    trusted CA through the intermediates the server sent, each issuer a CA (CA:TRUE, keyCertSign if it has a key
    usage) whose signature algorithm Go accepts (no MD5, no SHA-1), each CA inside its dates, within its path
    length and name constraints; every certificate of the chain that lists extended key usages must list server
    authentication. RV(problems) lists every certificate problem found, not only the first.
  - Where Go versions differ (SHA-1 signatures are refused from Go 1.18 on, RSA keys under 1024 bits from Go 1.24 on,
    RSA keys over 8192 bits from Go 1.19.12, 1.20.7 and 1.21 on), the probe applies the rules of the Go that built
    the C(dockerd) running on the host, read from the binary's build information with its C(GODEBUG) settings (see
    RV(daemon_go)); where it cannot read one, the rules of the newest Go.
  - Then it asks C(GET /v2/), with the credentials C(docker login) stored for the registry on this host (or
    O(username) and O(password)) when it has some and speaks HTTPS, as an anonymous client otherwise; a password
    never goes over plain HTTP.
  - "The verdicts: V(ok); V(unknown_authority) (Docker: C(x509: certificate signed by unknown authority));
    V(hostname_mismatch) (Docker: C(x509: certificate is valid for ..., not ...) or C(cannot validate certificate
    for <IP> because it doesn't contain any IP SANs)); V(expired) and V(not_yet_valid) (Docker: C(x509: certificate
    has expired or is not yet valid)); V(plain_http_port), the port answers plain HTTP to a TLS handshake;
    V(https_expected), plain HTTP reached a port that speaks TLS; V(connection_refused); V(timeout);
    V(auth_required), C(/v2/) answers 401 to anonymous requests; V(auth_refused), it answers 401 to the
    credentials sent (Docker: C(unauthorized: authentication required)). Beyond those: V(unresolved) (the name does not
    resolve), V(unreachable) (no route), V(tls_error) (the handshake failed for another reason, for example the
    server insists on a client certificate or an old protocol), V(not_a_registry) (C(/v2/) answers, but not like a
    registry, or the port speaks neither TLS nor HTTP), V(invalid_certificate) (the certificate or a CA of its chain
    breaks another rule of the daemon's verifier: Docker C(x509: certificate is not authorized to sign other
    certificates), C(too many intermediates for path length constraint), C(a root or intermediate certificate is not
    authorized to sign for this name), C(certificate specifies an incompatible key usage), C(unhandled critical
    extension), and the key size limits). A signature the daemon refuses, such as SHA-1 or one by a certificate
    that is not a CA, is V(unknown_authority), as the daemon words it; a CA outside its dates is V(expired) or
    V(not_yet_valid)."
  - "Which Docker message belongs to which verdict: a daemon that speaks TLS to a plain-HTTP registry, the usual
    mistake, reports C(http: server gave HTTP response to HTTPS client) (Docker 20.10, built with Go 1.19, does;
    daemons built with older Go versions, and some proxies, report C(tls: oversized record received with length
    20527) for the same thing). Both are V(plain_http_port). V(https_expected) is the opposite situation: something speaks plain HTTP to a TLS port, as
    the daemon does for a registry it reaches over C(http://), such as a registry mirror written with C(http://) or
    an C(insecure-registries) entry whose HTTPS attempt failed. The probe speaks plain HTTP when O(registry) starts
    with C(http://); the server then answers C(400 Client sent an HTTP request to an HTTPS server)."
  - The module never fails because of a verdict, so that a playbook can assert on RV(status); it fails only on
    unusable options, a C(certs.d) directory the daemon would reject, or a missing Python library.
  - Docker treats registries on loopback addresses (127.0.0.0/8, C(::1), C(localhost)) as insecure and checks
    nothing there; the probe judges them strictly all the same and warns.
author:
  - dockyard maintainers (@dockyard)
requirements:
  - C(cryptography) 38 or newer on the host, to read the certificate and check its chain (Debian 12's
    C(python3-cryptography) will do).
extends_documentation_fragment:
  - dockyard.registry._attributes
  - dockyard.registry._attributes.READ_ONLY
  - dockyard.registry._attributes.ACTIONGROUP
  - dockyard.registry._registry
options:
  registry:
    description:
      - The registry's address as Docker hosts write it in image references, V(host:port) (V([v6 address]:port)
        for IPv6), for example V(registry.example.com:5000). Without a port, 443, and the certs.d directory is
        C(/etc/docker/certs.d/<host>/), as for Docker.
      - A V(http://) prefix probes over plain HTTP, the way the daemon talks to a registry it reaches over
        C(http://); V(https://), the default, over TLS.
    type: str
    required: true
  timeout:
    description:
      - Seconds to wait for the TCP connection, for the TLS handshake, and for the answer to C(GET /v2/), each;
        the probe as a whole gets three times as long.
      - V(timeout) is the verdict when one of them takes longer.
    default: 10
seealso:
  - module: dockyard.registry.registry_image
  - name: Docker's certs.d
    description: How the Docker daemon finds the CA and client certificate for a registry.
    link: https://docs.docker.com/engine/security/certificates/
"""

EXAMPLES = r"""
- name: Probe the registry the way this host's Docker daemon would reach it
  dockyard.registry.registry_probe:
    registry: registry.example.com:5000
  register: _registry_probe

- name: Fail with the remedy when the daemon could not use the registry
  ansible.builtin.assert:
    that: _registry_probe.status == 'ok'
    fail_msg: "{{ _registry_probe.status }}: {{ _registry_probe.detail }}. {{ _registry_probe.remedy }}"
    quiet: true

- name: Accept a registry that only wants credentials (docker login is done elsewhere)
  dockyard.registry.registry_probe:
    registry: registry.example.com:5000
  register: _registry_probe
  failed_when: _registry_probe.status not in ['ok', 'auth_required']

- name: Tell whether a mirror written as http:// in daemon.json really serves plain HTTP
  dockyard.registry.registry_probe:
    registry: http://mirror.example.com:5000
    timeout: 5
"""

RETURN = r"""
status:
  description:
    - The verdict, see the description. V(ok) means the daemon on this host could use the registry as it is.
  returned: always
  type: str
  choices: [ok, unknown_authority, hostname_mismatch, expired, not_yet_valid, plain_http_port, https_expected,
            connection_refused, timeout, auth_required, auth_refused, unresolved, unreachable, tls_error,
            not_a_registry, invalid_certificate]
  sample: unknown_authority
summary:
  description: What RV(status) means, in one line, with the message Docker prints for it.
  returned: always
  type: str
  sample: "the certificate is not signed by a CA this host trusts for the registry (Docker: x509: certificate
    signed by unknown authority)"
detail:
  description:
    - What the probe saw that led to the verdict, in one line. For a certificate problem, each problem's
      explanation ends with what the daemon says about it, in parentheses.
  returned: always
  type: str
  sample: "the certificate's issuer 'other CA' is neither a trusted CA nor signed by one (x509: certificate signed by
    unknown authority)"
remedy:
  description: What to do about it, in one line. Empty for V(ok).
  returned: always
  type: str
  sample: "Put the CA that signed the registry's certificate (issuer CN=other CA) in
    /etc/docker/certs.d/192.0.2.10:5000/ca.crt on this host (the dockyard.registry.trust playbook does), or reissue the
    certificate from the CA that is there."
problems:
  description:
    - Every certificate problem found, in the order the Docker daemon checks; the first is RV(status).
    - Empty when the certificate is fine or there is none.
  returned: always
  type: list
  elements: str
  sample: [expired, unknown_authority]
registry:
  description: The registry's name as in image references and certs.d (V(host:port), V(host) for port 443).
  returned: always
  type: str
  sample: 192.0.2.10:5000
url:
  description: The URL the probe asked.
  returned: always
  type: str
  sample: https://192.0.2.10:5000/v2/
daemon_go:
  description:
    - The Go whose rules the certificate was judged by, and where that came from (the C(dockerd) binary of the host,
      its build information and C(GODEBUG) settings), or why the newest Go's rules were applied.
  returned: when the probe speaks TLS
  type: str
  sample: Go 1.19.8, read from /usr/sbin/dockerd
trusted_cas:
  description: Which CAs the probe trusted, as files.
  returned: when the probe speaks TLS
  type: str
  sample: the system roots and /etc/docker/certs.d/192.0.2.10:5000/ca.crt
credentials:
  description: Whose credentials the probe sent, and where they came from (never the password).
  returned: when the probe sent credentials
  type: str
  sample: user ci from the Docker login stored in /root/.docker/config.json
login_role:
  description:
    - The role of the credentials sent, as the registry host's authenticating proxy (registry_server) named it in its
      answer, V(pull), V(push), or V(push) followed by the repository prefixes the account is limited to
      (V(push team-a/*)). A Docker host's stored login is a pull account.
  returned: when the credentials were accepted by a registry the collection deployed with accounts
  type: str
  sample: pull
http_status:
  description: The status of the answer to C(GET /v2/).
  returned: when an HTTP answer came
  type: int
  sample: 200
certificate:
  description: The certificate the registry presented.
  returned: when the TLS handshake completed
  type: dict
  contains:
    subject:
      description: Its subject, RFC 4514.
      type: str
      sample: CN=registry.example.com
    issuer:
      description: Its issuer, RFC 4514.
      type: str
      sample: CN=dockyard registry CA
    sans:
      description: Its subject alternative names, DNS names first, then IP addresses.
      type: list
      elements: str
      sample: [registry.example.com, 192.0.2.10]
    not_before:
      description: Start of its validity, UTC, ISO 8601.
      type: str
      sample: "2026-11-27T21:00:00Z"
    not_after:
      description: End of its validity, UTC, ISO 8601.
      type: str
      sample: "2027-12-29T21:00:00Z"
    serial_number:
      description: Its serial number, hexadecimal.
      type: str
    sha256_fingerprint:
      description: The SHA-256 of its DER encoding, colon-separated hexadecimal.
      type: str
"""


from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.dockyard.registry.plugins.module_utils._names import AddressError, parse_address
from ansible_collections.dockyard.registry.plugins.module_utils._registry.auth import registry_credentials
from ansible_collections.dockyard.registry.plugins.module_utils._registry.daemon_trust import Trust
from ansible_collections.dockyard.registry.plugins.module_utils._registry.errors import TrustConfigError
from ansible_collections.dockyard.registry.plugins.module_utils._registry.options import (
    connection_argument_spec,
    connection_requirements,
)
from ansible_collections.dockyard.registry.plugins.module_utils._registry.probe import (
    CRYPTOGRAPHY_IMPORT_ERROR,
    PROBE_TIMEOUT,
    RegistryProbe,
)
from ansible_collections.dockyard.registry.plugins.module_utils._x509 import NEWEST, daemon_go


def argument_spec() -> dict:
    spec = connection_argument_spec(timeout=PROBE_TIMEOUT)
    spec.update(registry={"type": "str", "required": True})
    return spec


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True, **connection_requirements())
    if CRYPTOGRAPHY_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=CRYPTOGRAPHY_IMPORT_ERROR)
    params = module.params
    if params["timeout"] <= 0:
        module.fail_json(msg=f"timeout must be a positive number of seconds, not {params['timeout']}")
    try:
        address = parse_address(params["registry"])
        trust = Trust.for_registry(address.name, params["ca_path"]) if address.scheme == "https" else None
        credentials = registry_credentials(address.name, params["username"], params["password"])
        daemon = daemon_go() if trust is not None else (NEWEST, "")
        result = RegistryProbe(address, trust, params["timeout"], credentials, daemon=daemon).run()
    except (AddressError, TrustConfigError) as exc:
        module.fail_json(msg=str(exc))
    if address.is_loopback:
        module.warn(f"Docker treats {address.name} as an insecure registry, because it is a loopback address: the "
                    "daemon checks no certificate there and may fall back to plain HTTP. The verdict is what a "
                    "daemon reaching the registry by another address would find.")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
