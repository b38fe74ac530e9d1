"""The insecure fallback in the runtimes other than Docker: a containerd host pulls from the plain-HTTP registry
through a hosts.toml that names it http://, a Podman host through a registries.conf drop-in that marks it
insecure; without those files each refuses, since it would speak TLS to a port that speaks plain HTTP."""

from __future__ import annotations

from conftest import assert_podman_pulls_by_digest, ctr_pull, moved_away, podman_pull, run_ok

HTTPS_TO_HTTP = "server gave HTTP response to HTTPS client"
DROPIN = "/etc/containers/registries.conf.d/50-dockyard-registry.conf"


def test_containerd_pulls_by_digest_over_plain_http_through_every_address(fleet, pushed_image, address):
    host = fleet.host("containerd")
    hosts_toml = host.file(f"/etc/containerd/certs.d/{address}/hosts.toml").content_string
    assert f'[host."http://{address}"]' in hosts_toml, hosts_toml
    reference = pushed_image.by_digest(address)
    run_ok(host, "ctr images rm %s || true", reference)
    result = ctr_pull(host, reference)
    assert result.rc == 0, f"containerd: ctr pull {reference} failed: {result.stderr or result.stdout}"


def test_podman_pulls_by_digest_over_plain_http_through_every_address(fleet, pushed_image, address):
    host = fleet.host("podman")
    dropin = host.file(DROPIN).content_string
    assert f'location = "{address}"' in dropin and "insecure = true" in dropin, dropin
    reference = pushed_image.by_digest(address)
    assert_podman_pulls_by_digest(host, reference, pushed_image.digest)


def test_without_their_files_containerd_and_podman_refuse_the_plain_http_registry(fleet, pushed_image):
    address = f"{fleet.registry_ips[0]}:{fleet.port}"
    reference = pushed_image.by_digest(address)
    containerd = fleet.host("containerd")
    run_ok(containerd, "ctr images rm %s || true", reference)
    with moved_away(containerd, f"/etc/containerd/certs.d/{address}"):
        refused = ctr_pull(containerd, reference)
    assert refused.rc != 0 and HTTPS_TO_HTTP in refused.stderr + refused.stdout, refused.stderr or refused.stdout
    podman = fleet.host("podman")
    podman.run("podman --storage-driver vfs rmi --force %s", reference)
    with moved_away(podman, DROPIN):
        refused = podman_pull(podman, reference)
    assert refused.rc != 0 and HTTPS_TO_HTTP in refused.stderr + refused.stdout, refused.stderr or refused.stdout
