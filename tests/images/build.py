"""Build the images the molecule scenarios run on, each cached by a hash of its recipe.

Nothing can be pulled on these machines, so everything is built here:

* the Docker host image ``dockyard/molecule-docker-host:<hash>`` (also tagged ``latest``, which the
  scenarios use): Debian bookworm from ``debootstrap --variant=minbase`` with Debian's docker.io, python3 and
  haproxy (the registry host's authenticating proxy),
  as fleets have their hosts (none of the Python libraries the collection's modules import: the site
  playbook installs them), imported with ``docker import``. Its command
  (``tini`` in front of ``dockyard-dind``) runs the host's own ``dockerd``;
* the same host with the Python libraries the collection's modules import, installed from the OS packages
  (``dockyard/molecule-docker-host-libraries``), for integration tests that run a module on a host directly;
* the runtime hosts, for the runtimes other than Docker: a base image from ``debootstrap --variant=minbase`` with
  python3 and nothing of Docker (``dockyard/molecule-base``), and on top of it, installed with APT in a container
  and committed, a containerd-only host (``dockyard/molecule-containerd-host``: Debian's containerd with ``ctr``;
  its command, ``dockyard-containerd``, starts containerd detached with a log file and a pid file) and a
  Podman-only host (``dockyard/molecule-podman-host``: podman, skopeo and buildah; no daemon). Neither has the
  Python libraries of the collection's modules; the containerd host with them (``python3-tomlkit``:
  ``dockyard/molecule-containerd-host-libraries``) is for integration tests that run the runtimes' code there directly;
* the hosts of a registry behind a load balancer that run no container runtime (molecule scenario ha): a load
  balancer host (``dockyard/molecule-lb-host``: the base image with Debian's haproxy and redis-server, neither
  started) and, for the SeaweedFS hosts, the base image itself;
* the Docker host and the runtime hosts again for Debian 13 (trixie: Docker 26 with its CLI in ``docker-cli``,
  containerd 1.7, Podman 5.4), named with the release (``dockyard/molecule-docker-host-trixie``,
  ``dockyard/molecule-containerd-host-trixie``, ``dockyard/molecule-podman-host-trixie``), for scenarios whose
  fleets mix Debian releases (a platform's ``image``);
* the registry archive ``.cache/molecule/registry-<hash>.tar`` (``docker save``, with the link
  ``.cache/molecule/registry-image.tar`` to it) for ``registry_image_source: archive``: CNCF Distribution
  built FROM scratch from Debian's docker-registry package by the registry_server role's own tasks
  (``image_package.yml`` and its package_image module), tagged ``registry:2`` inside the archive only, as an air-gapped
  site would receive it.

A rerun whose recipe did not change costs one ``docker image inspect`` and one ``stat``. The script
installs what it needs (debootstrap) itself: CI starts on a machine where nothing was installed by hand.
It needs a running Docker daemon (``make engine``).

Usage (as root, with the virtualenv's Python, as ``make test-images`` does):
python tests/images/build.py [--force] [--only docker-host,runtime-hosts,ha-hosts,registry,trixie-hosts]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
CACHE = ROOT / ".cache" / "molecule"

# Debian releases of the hosts: 12 (bookworm, the machine's own) and 13 (trixie, Debian's stable release, from the
# same mirror). A host image of another release than bookworm carries the release in its name
# (dockyard/molecule-docker-host-trixie); a scenario's platform names it as its `image`.
SUITE = "bookworm"
OTHER_SUITES = ("trixie",)
DEBIAN_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
FALLBACK_MIRROR = "http://deb.debian.org/debian"
# A Docker host as fleets have them: the engine and python3, nothing more. The Python libraries the
# collection's modules import there (cryptography, requests, the Docker SDK) are left out on purpose: the site
# playbook's preflight installs them from the OS packages, and the molecule scenarios prove that it does.
# iproute2 gives Ansible its network facts. haproxy is the registry's authenticating proxy on a registry host (the
# registry_server role installs it where it is missing; the image has it so that a converge does not wait for APT).
# sshd and sudo for a scenario that reaches its hosts as fleets are reached, over SSH as a user who becomes root (not
# started: that scenario's prepare starts sshd). On Debian 13 the engine's CLI is a package of its own, docker-cli,
# which APT installs with docker.io as a recommendation (debootstrap installs no recommendations: it is named).
SSH_PACKAGES = ["openssh-server", "sudo"]
HOST_PACKAGES = [
    "ca-certificates",
    "docker.io",
    "haproxy",
    "iproute2",
    "iptables",
    "python3",
    "tini",
    *SSH_PACKAGES,
]
# For the integration tests that run a module on such a host directly, without the site playbook: the same
# image with those libraries, installed from the OS packages with APT on top of it.
SUITE_HOST_PACKAGES = {"trixie": ["docker-cli"]}
LIBRARY_PACKAGES = ["python3-cryptography", "python3-docker", "python3-requests"]
HOST_IMAGE = "dockyard/molecule-docker-host"
HOST_COMMAND = ["/usr/bin/tini", "--", "/usr/local/sbin/dockyard-dind"]
LIBRARIES_IMAGE = "dockyard/molecule-docker-host-libraries"

# The hosts of the other runtimes start from a host without Docker: python3 for Ansible, tini to reap, iproute2
# for Ansible's network facts. Like the Docker host, none of the Python libraries of the collection's modules.
BASE_PACKAGES = ["ca-certificates", "iproute2", "python3", "tini", *SSH_PACKAGES]
BASE_IMAGE = "dockyard/molecule-base"
# A runtime host that runs no daemon idles under tini.
IDLE_COMMAND = ["/usr/bin/tini", "--", "sleep", "infinity"]
# A Kubernetes node's runtime without Docker: Debian's containerd (with ctr). Its command starts containerd
# detached, as a machine without systemd would, so that a restart of containerd does not end the container.
CONTAINERD_PACKAGES = ["containerd"]
CONTAINERD_IMAGE = "dockyard/molecule-containerd-host"
CONTAINERD_COMMAND = ["/usr/bin/tini", "--", "/usr/local/sbin/dockyard-containerd"]
# For the integration tests that run the runtimes' code on a containerd host directly: the library it edits config.toml
# with, from the OS packages, as the preflight installs it.
CONTAINERD_LIBRARY_PACKAGES = ["python3-tomlkit"]
CONTAINERD_LIBRARIES_IMAGE = "dockyard/molecule-containerd-host-libraries"
# The containers/image family without a daemon: podman, and skopeo and buildah that read the same files.
PODMAN_PACKAGES = ["podman", "skopeo", "buildah"]
PODMAN_IMAGE = "dockyard/molecule-podman-host"
# The hosts of a registry behind a load balancer that run no Docker: a load balancer with the Redis of the blob
# descriptor cache (Debian's haproxy and redis-server), and an object store host (nothing more than the base: the
# registry_store role copies SeaweedFS's static binary there). Neither has a Docker engine.
HA_PACKAGES = ["haproxy", "redis-server"]
HA_IMAGE = "dockyard/molecule-lb-host"

REGISTRY_TAG = "registry:2"  # what registry_image defaults to
REGISTRY_BUILD_NAME = "dockyard/molecule-registry-build"  # on this machine's daemon during the build only
REGISTRY_ARCHIVE_LINK = CACHE / "registry-image.tar"

# Everything each artifact is made from: when one of these changes, the artifact is built again.
HOST_RECIPE = [HERE / "build.py", HERE / "dockyard-dind"]
BASE_RECIPE = [HERE / "build.py"]
REGISTRY_RECIPE = [
    HERE / "build.py",
    HERE / "registry-image.yml",
    ROOT / "roles" / "registry_server" / "tasks" / "image_package.yml",
    ROOT / "roles" / "registry_server" / "vars" / "main.yml",
    ROOT / "plugins" / "modules" / "package_image.py",
    ROOT / "plugins" / "module_utils" / "_package_image.py",
]


def log(message: str) -> None:
    print(f"[images] {message}", flush=True)


def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=True, **kwargs)


def recipe_hash(files: list[Path], *extra: str) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    for item in extra:
        digest.update(item.encode() + b"\0")
    return digest.hexdigest()[:16]


def debian_mirror() -> str:
    """The machine's own Debian mirror (the first deb822 stanza that serves the suite)."""
    if os.environ.get("DOCKYARD_DEBIAN_MIRROR"):
        return os.environ["DOCKYARD_DEBIAN_MIRROR"]
    if DEBIAN_SOURCES.exists():
        for stanza in DEBIAN_SOURCES.read_text().split("\n\n"):
            pairs = (line.split(":", 1) for line in stanza.splitlines() if ":" in line and not line.startswith("#"))
            fields = {key.strip(): value.strip() for key, value in pairs}
            if SUITE in fields.get("Suites", "").split() and fields.get("URIs"):  # it serves trixie too
                return fields["URIs"].split()[0]
    return FALLBACK_MIRROR


def installed(package: str) -> bool:
    status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], check=False, capture_output=True, text=True)
    return status.stdout == "install ok installed"


def apt_install(*packages: str) -> None:
    missing = [package for package in packages if not installed(package)]
    if missing:
        log(f"installing {' '.join(missing)}")
        run("apt-get", "update", "-qq")
        run("apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def image_exists(reference: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", reference], check=False, capture_output=True).returncode == 0


def remove_other_tags(repository: str, keep: set[str]) -> None:
    """Drop this script's older builds (only tags of its own repository)."""
    tags = subprocess.run(["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", repository],
                          check=True, capture_output=True, text=True).stdout.split()
    for tag in tags:
        if tag not in keep and not tag.endswith(":<none>"):
            subprocess.run(["docker", "image", "rm", tag], check=False, capture_output=True)


def debootstrap_image(tag: str, packages: list[str], command: list[str], files: dict[str, Path],
                      suite: str = SUITE) -> None:
    """``debootstrap --variant=minbase`` of ``packages``, with ``files`` (path in the image -> source, made
    executable) added, imported as ``tag`` with ``command``."""
    apt_install("debootstrap")
    mirror = debian_mirror()
    with tempfile.TemporaryDirectory(prefix="dockyard-molecule-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        log(f"debootstrap {suite} from {mirror} into {rootfs}")
        bootstrap = subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(packages)}", suite, str(rootfs), mirror],
            check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if bootstrap.returncode != 0:
            details = rootfs / "debootstrap" / "debootstrap.log"
            tail = details.read_text().splitlines()[-40:] if details.exists() else []
            raise SystemExit("debootstrap failed:\n" + "\n".join(bootstrap.stdout.splitlines()[-20:] + tail))
        # The package lists debootstrap leaves stay in the image: registry_image_source package reads
        # the candidate version of docker-registry on the host and downloads it with apt-get.
        # The downloaded packages go.
        for deb in (rootfs / "var" / "cache" / "apt" / "archives").glob("*.deb"):
            deb.unlink()
        # Docker writes these per container.
        for name in ("resolv.conf", "hostname", "hosts"):
            (rootfs / "etc" / name).unlink(missing_ok=True)
        for destination, source in files.items():
            target = rootfs / destination.lstrip("/")
            shutil.copy(source, target)
            target.chmod(0o755)
        log(f"docker import as {tag}")
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", "-", "."], stdout=subprocess.PIPE)
        run("docker", "import", "--change", f"CMD {json.dumps(command)}", "--change", "ENV container=docker",
            "-", tag, stdin=tar.stdout, stdout=subprocess.DEVNULL)
        if tar.wait() != 0:
            raise SystemExit("tar of the host root file system failed")


def suite_image(image: str, suite: str) -> str:
    """The name of ``image`` for hosts of Debian ``suite`` (the bookworm name has no suffix)."""
    return image if suite == SUITE else f"{image}-{suite}"


def build_debootstrap_image(image: str, recipe: list[Path], packages: list[str], command: list[str],
                            files: dict[str, Path], force: bool, suite: str = SUITE) -> str:
    """``image`` from debootstrap (:func:`debootstrap_image`) of ``suite``, tagged by a hash of ``recipe`` and
    ``latest``."""
    image = suite_image(image, suite)
    tag = f"{image}:{recipe_hash(recipe, debian_mirror(), *([suite] if suite != SUITE else []))}"
    if image_exists(tag) and not force:
        log(f"{tag} is up to date")
    else:
        started = time.monotonic()
        debootstrap_image(tag, packages, command, files, suite)
        log(f"{tag} built in {time.monotonic() - started:.0f}s")
    run("docker", "tag", tag, f"{image}:latest")
    remove_other_tags(image, {tag, f"{image}:latest"})
    return tag


def build_host_image(force: bool, suite: str = SUITE) -> str:
    return build_debootstrap_image(HOST_IMAGE, HOST_RECIPE, HOST_PACKAGES + SUITE_HOST_PACKAGES.get(suite, []), HOST_COMMAND,
                                   {"/usr/local/sbin/dockyard-dind": HERE / "dockyard-dind"}, force, suite)


def apt_layer_image(base_tag: str, image: str, packages: list[str], command: list[str],
                    files: dict[str, Path] | None = None, force: bool = False, keep_lists: bool = True) -> str:
    """``image``: ``base_tag`` with ``packages`` installed from the OS packages with APT in a container, and
    ``files`` (path in the image -> source) copied in executable, committed with ``command``; tagged by a hash of
    all of that, and ``latest``. Without ``keep_lists`` the package lists go (80 MB that a host's first
    ``apt-get update`` makes again)."""
    files = files or {}
    recipe = [base_tag, *packages, json.dumps(command)] + ([] if keep_lists else ["without package lists"])
    recipe += [f"{destination}\0{hashlib.sha256(source.read_bytes()).hexdigest()}" for destination, source in files.items()]
    tag = f"{image}:{hashlib.sha256(' '.join(recipe).encode()).hexdigest()[:16]}"
    if image_exists(tag) and not force:
        log(f"{tag} is up to date")
    else:
        started = time.monotonic()
        builder = f"dockyard-images-{image.rsplit('/', 1)[-1]}-{os.getpid()}"
        install = ("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
                   + " ".join(packages) + " >/dev/null && rm -f /var/cache/apt/archives/*.deb")
        if not keep_lists:
            install += " && rm -rf /var/lib/apt/lists/*"
        mounts = []
        for number, (destination, source) in enumerate(files.items()):
            mounts += ["--volume", f"{source}:/run/dockyard-recipe/{number}:ro"]
            install += f" && install -m 0755 /run/dockyard-recipe/{number} {destination}"
        try:
            run("docker", "run", "--name", builder, *mounts, base_tag, "sh", "-c", install, stdout=subprocess.DEVNULL)
            run("docker", "commit", "--change", f"CMD {json.dumps(command)}", builder, tag, stdout=subprocess.DEVNULL)
        finally:
            subprocess.run(["docker", "rm", "--force", builder], check=False, capture_output=True)
        log(f"{tag} built in {time.monotonic() - started:.0f}s")
    run("docker", "tag", tag, f"{image}:latest")
    remove_other_tags(image, {tag, f"{image}:latest"})
    return tag


def build_libraries_image(host_tag: str, force: bool) -> str:
    """The Docker host image with the modules' Python libraries installed from the OS packages."""
    return apt_layer_image(host_tag, LIBRARIES_IMAGE, LIBRARY_PACKAGES, HOST_COMMAND, force=force)


def build_base_image(force: bool, suite: str = SUITE) -> str:
    """A host with python3 and nothing of Docker: what the runtime hosts are made from."""
    return build_debootstrap_image(BASE_IMAGE, BASE_RECIPE, BASE_PACKAGES, IDLE_COMMAND, {}, force, suite)


def build_runtime_hosts(force: bool, suite: str = SUITE) -> dict[str, str]:
    """The containerd-only host and the Podman-only host, on the base image of ``suite``; on bookworm also the
    containerd host with the library of the modules that edit its config.toml."""
    base = build_base_image(force, suite)
    containerd, podman = suite_image(CONTAINERD_IMAGE, suite), suite_image(PODMAN_IMAGE, suite)
    images = {
        containerd: apt_layer_image(base, containerd, CONTAINERD_PACKAGES, CONTAINERD_COMMAND,
                                    {"/usr/local/sbin/dockyard-containerd": HERE / "dockyard-containerd"}, force,
                                    keep_lists=False),
        podman: apt_layer_image(base, podman, PODMAN_PACKAGES, IDLE_COMMAND, force=force, keep_lists=False),
    }
    if suite == SUITE:
        images[CONTAINERD_LIBRARIES_IMAGE] = apt_layer_image(images[containerd], CONTAINERD_LIBRARIES_IMAGE,
                                                             CONTAINERD_LIBRARY_PACKAGES, CONTAINERD_COMMAND,
                                                             force=force, keep_lists=False)
    return images


def build_ha_hosts(force: bool) -> dict[str, str]:
    """The load balancer host (HAProxy and Redis installed, neither started) on the base image; the object store
    hosts run the base image itself."""
    base = build_base_image(force)
    return {HA_IMAGE: apt_layer_image(base, HA_IMAGE, HA_PACKAGES, IDLE_COMMAND, force=force, keep_lists=False),
            BASE_IMAGE: base}


def retag_archive(source: Path, target: Path, tag: str) -> None:
    """Copy a ``docker save`` archive with ``tag`` as its only name (manifest.json, repositories, index.json)."""
    repository, version = tag.rsplit(":", 1)
    image_id = ""
    with tarfile.open(source) as src, tarfile.open(target, "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else None
            if member.name == "manifest.json":
                manifest = json.loads(data)
                if len(manifest) != 1:
                    raise SystemExit(f"{source} holds {len(manifest)} images, expected one")
                manifest[0]["RepoTags"] = [tag]
                image_id = manifest[0]["Config"].rsplit("/", 1)[-1].removesuffix(".json")
                data = json.dumps(manifest).encode()
            elif member.name == "repositories":
                layers = json.loads(data)
                top = next(iter(next(iter(layers.values())).values()))
                data = json.dumps({repository: {version: top}}).encode()
            elif member.name == "index.json":
                index = json.loads(data)
                for entry in index.get("manifests", []):
                    annotations = entry.setdefault("annotations", {})
                    full_name = tag if "/" in repository else f"docker.io/library/{tag}"
                    annotations["io.containerd.image.name"] = full_name
                    annotations["org.opencontainers.image.ref.name"] = version
                data = json.dumps(index).encode()
            if data is not None:
                member.size = len(data)
                dst.addfile(member, io.BytesIO(data))
            else:
                dst.addfile(member)
    log(f"archive {target.name}: {tag}, image sha256:{image_id}")


def build_registry_archive(force: bool) -> Path:
    archive = CACHE / f"registry-{recipe_hash(REGISTRY_RECIPE, REGISTRY_TAG)}.tar"
    if archive.exists() and not force:
        log(f"{archive.relative_to(ROOT)} is up to date")
    else:
        started = time.monotonic()
        CACHE.mkdir(parents=True, exist_ok=True)
        policy = subprocess.run(["apt-cache", "policy", "docker-registry"], check=False, capture_output=True,
                                text=True, env={**os.environ, "LC_ALL": "C"}).stdout
        if "Candidate:" not in policy or "Candidate: (none)" in policy:
            run("apt-get", "update", "-qq")
        # A stale image of an older recipe would be reused by the role (it builds only when absent).
        remove_other_tags(REGISTRY_BUILD_NAME, set())
        with tempfile.TemporaryDirectory(prefix="dockyard-molecule-registry-") as tmp:
            result = Path(tmp) / "result"
            saved = Path(tmp) / "saved.tar"
            env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
            playbook = subprocess.run(
                [str(BIN / "ansible-playbook"), "-i", "localhost,", str(HERE / "registry-image.yml"),
                 "-e", json.dumps({"dockyard_images_registry_name": REGISTRY_BUILD_NAME,
                                   "dockyard_images_result_file": str(result)})],
                check=False, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if playbook.returncode != 0:
                raise SystemExit("building the registry image with the role failed:\n" + playbook.stdout[-6000:])
            source, image = result.read_text().split()
            if source != "package":
                raise SystemExit(f"the role reported image source {source}, expected package")
            run("docker", "save", "-o", str(saved), image)
            retag_archive(saved, Path(tmp) / "archive.tar", REGISTRY_TAG)
            shutil.move(Path(tmp) / "archive.tar", archive)
            archive.chmod(0o644)
            subprocess.run(["docker", "image", "rm", image], check=False, capture_output=True)
        log(f"{archive.relative_to(ROOT)} built in {time.monotonic() - started:.0f}s")
    for old in CACHE.glob("registry-*.tar"):
        if old not in (archive, REGISTRY_ARCHIVE_LINK):
            old.unlink()
    link_tmp = REGISTRY_ARCHIVE_LINK.with_suffix(".tmp")
    link_tmp.unlink(missing_ok=True)
    link_tmp.symlink_to(archive.name)
    link_tmp.replace(REGISTRY_ARCHIVE_LINK)
    return archive


PARTS = ("docker-host", "runtime-hosts", "ha-hosts", "registry", "trixie-hosts")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--force", action="store_true", help="build again even when the recipe did not change")
    parser.add_argument("--only", default=",".join(PARTS),
                        help=f"comma-separated parts to build, of {', '.join(PARTS)} (default: all)")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    if parts - set(PARTS):
        raise SystemExit(f"unknown parts {sorted(parts - set(PARTS))}; choose among {', '.join(PARTS)}")
    if os.geteuid() != 0:
        raise SystemExit("build.py runs debootstrap and apt-get: run it as root")
    if "docker-host" in parts:
        host = build_host_image(args.force)
        libraries = build_libraries_image(host, args.force)
        log(f"Docker host image: {host} ({HOST_IMAGE}:latest)")
        log(f"with the modules' libraries: {libraries} ({LIBRARIES_IMAGE}:latest)")
    if "runtime-hosts" in parts:
        for image, tag in build_runtime_hosts(args.force).items():
            log(f"runtime host image: {tag} ({image}:latest)")
    if "ha-hosts" in parts:
        for image, tag in build_ha_hosts(args.force).items():
            log(f"load balancer and store host image: {tag} ({image}:latest)")
    if "trixie-hosts" in parts:
        for suite in OTHER_SUITES:
            log(f"Docker host image: {build_host_image(args.force, suite)} ({suite_image(HOST_IMAGE, suite)}:latest)")
            for image, tag in build_runtime_hosts(args.force, suite).items():
                log(f"runtime host image: {tag} ({image}:latest)")
    if "registry" in parts:
        archive = build_registry_archive(args.force)
        log(f"registry archive: {archive} ({REGISTRY_ARCHIVE_LINK.relative_to(ROOT)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
