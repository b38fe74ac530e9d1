"""Which account the modules use for a registry: given options first, else what ``docker login`` stored."""

import base64
import json

from ansible_collections.dockyard.registry.plugins.module_utils._registry.auth import (
    Credentials,
    registry_credentials,
    unauthorized_message,
)

REGISTRY = "registry.example.com:5000"


def docker_config(tmp_path, auths: dict) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"auths": {
        registry: {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
        for registry, (user, password) in auths.items()}}))
    return str(path)


def test_stored_login_of_the_registry_is_used(tmp_path):
    config = docker_config(tmp_path, {REGISTRY: ("ci", "pa:ss"), "other.example.com:5000": ("x", "y")})
    credentials = registry_credentials(REGISTRY, config_path=config)
    assert (credentials.username, credentials.password) == ("ci", "pa:ss")
    assert config in credentials.source


def test_given_username_and_password_win_over_the_stored_login(tmp_path):
    config = docker_config(tmp_path, {REGISTRY: ("ci", "stored")})
    credentials = registry_credentials(REGISTRY, "deploy", "given", config_path=config)
    assert (credentials.username, credentials.password) == ("deploy", "given")


def test_no_login_for_the_registry_means_anonymous(tmp_path):
    config = docker_config(tmp_path, {"other.example.com:5000": ("x", "y")})
    assert registry_credentials(REGISTRY, config_path=config) is None
    assert registry_credentials(REGISTRY, config_path=str(tmp_path / "missing.json")) is None


def test_basic_header_and_repr_keep_the_password_out_of_sight():
    credentials = Credentials("ci", "s3cret", "the username and password options")
    assert credentials.basic == "Basic " + base64.b64encode(b"ci:s3cret").decode()
    assert "s3cret" not in repr(credentials)


def test_401_messages_say_what_to_do_without_the_password():
    anonymous = unauthorized_message(REGISTRY, "GET of the manifest of team/app:1", None)
    assert f"docker login {REGISTRY}" in anonymous
    credentials = Credentials("ci", "s3cret", "the Docker login stored in /root/.docker/config.json")
    refused = unauthorized_message(REGISTRY, "GET of the manifest of team/app:1", credentials, 'Basic realm="r"')
    assert "refused the credentials of user ci" in refused and "s3cret" not in refused
    bearer = unauthorized_message(REGISTRY, "GET", credentials, 'Bearer realm="https://auth.example.com/token"')
    assert "Bearer" in bearer and "HTTP Basic only" in bearer


def test_plain_http_carries_credentials_to_a_loopback_ip_only_and_only_when_asked():
    import pytest

    from ansible_collections.dockyard.registry.plugins.module_utils._registry.client import RegistryClient
    from ansible_collections.dockyard.registry.plugins.module_utils._registry.errors import RegistryError

    credentials = Credentials("dockyard-proxy", "secret", "the test")
    with RegistryClient("127.0.0.1:15000", credentials=credentials, loopback_http=True) as client:
        assert client.scheme == "http" and client.transport.sends_credentials
    with RegistryClient("[::1]:15000", credentials=credentials, loopback_http=True) as client:
        assert client.transport.sends_credentials
    # A name (whatever it resolves to) or another address is refused before any request.
    for registry in ("localhost:15000", "registry.example.com:5000", "10.0.0.5:15000"):
        with pytest.raises(RegistryError, match="is not a loopback IP address"):
            RegistryClient(registry, credentials=credentials, loopback_http=True)
    # Without loopback_http, a registry that speaks plain HTTP never gets them, loopback or not.
    with RegistryClient("127.0.0.1:15000", credentials=credentials, insecure=True) as client:
        client.transport = client._transport("http", verify=False)
        assert not client.transport.sends_credentials
