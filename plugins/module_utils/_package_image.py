# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: a registry image built FROM scratch from an OS package.

Where no registry can be pulled from, CNCF Distribution still ships as an OS package (Debian's
``docker-registry``). Its binary needs only the C library and the loader, so an image with the binary, the
libraries ``ldd`` names, a default configuration and a static ``wget`` (for the container's health check) behaves
like ``registry:2``. The packages are downloaded and unpacked, never installed: installing one would start its
own registry service wherever systemd runs. An image is built only when the one named for the package's version
is missing or was made by an older recipe.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile

from ansible_collections.dockyard.registry.plugins.module_utils._docker_images import label


def image_options() -> dict:
    """The argument spec of the options that say which image package_image builds (O(name), O(package), O(recipe))
    and where it keeps the candidate versions (O(cache)): package_image's own, and registry_config's
    O(image_package), which names the image package_image built."""
    return {
        "name": {"type": "str", "default": "dockyard/registry"},
        "package": {"type": "str", "default": "docker-registry"},
        "recipe": {"type": "str", "default": "2"},
        "cache": {"type": "path", "default": "/var/cache/dockyard-registry/apt-candidates.json"},
    }


DOCKERFILE = """\
# Built by dockyard.registry from the {package} {version} package: its registry binary, the shared libraries
# ldd listed for it, a default configuration, and a static wget for the health check. Laid out like
# registry:2, so the same container settings fit both.
FROM scratch
COPY rootfs/ /
EXPOSE 5000
VOLUME ["/var/lib/registry"]
ENTRYPOINT ["/bin/registry"]
CMD ["serve", "/etc/docker/registry/config.yml"]
"""

# The image's own configuration, as registry:2 has (plain HTTP); the collection's container mounts another.
DEFAULT_CONFIG = """\
version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
"""


# What ``apt-cache policy`` answers from: the package lists, the dpkg status, and APT's sources, pins and settings.
APT_STATE = ("/var/lib/dpkg/status", "/var/lib/apt/lists", "/etc/apt")


class PackageImageError(Exception):
    """The image cannot be built; the message names the package, the option and the fix."""


def image_tag(version: str) -> str:
    """A Docker tag for a package version: [A-Za-z0-9_.-], up to 128 characters, not starting with . or -."""
    return re.sub(r"^[.-]+", "", re.sub(r"[^A-Za-z0-9_.-]", "-", version))[:128]


def candidate_version(policy_output: str) -> str | None:
    """The candidate version ``apt-cache policy`` names, or None when there is none."""
    match = re.search(r"^\s*Candidate:\s*(\S+)", policy_output, re.MULTILINE)
    return match.group(1) if match and match.group(1) != "(none)" else None


def shared_libraries(ldd_output: str) -> list[str]:
    """The absolute paths ``ldd`` lists (the loader included), each once."""
    libraries = []
    for path in re.findall(r"(/\S+) \(0x[0-9a-fA-F]+\)", ldd_output):
        if path not in libraries:
            libraries.append(path)
    return libraries


def apt_state(roots=APT_STATE) -> str:
    """A digest of the path, size and modification time of every file under ``roots``: what APT's answer depends on.

    ``apt-get update``, a package installed or removed, a new source or pin: each changes a file there, and so the
    digest. Reading it costs a few ``stat`` calls, where ``apt-cache policy`` costs most of a second.
    """
    digest = hashlib.sha256()
    for root in roots:
        paths = [root] if not os.path.isdir(root) else sorted(
            os.path.join(directory, name) for directory, _dirs, names in os.walk(root) for name in names)
        for path in paths:
            try:
                stat = os.stat(path)
            except OSError:
                continue  # gone, or a dangling link: not part of the state
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


class CandidateCache:
    """The candidate version of each package, as ``apt-cache policy`` last named it, with the APT state it was read in.

    A JSON file on the host (``{package: {"state": digest, "version": version}}``); an entry whose state differs
    from ``state`` (by default the APT state of now, :func:`apt_state`) is not used. A file that cannot be read or
    parsed is an empty cache.
    """

    def __init__(self, path: str, state: str | None = None) -> None:
        self.path = path
        self.state = apt_state() if state is None else state
        try:
            with open(path, encoding="utf-8") as cached:
                entries = json.load(cached)
        except (OSError, ValueError):
            entries = {}
        self.entries = entries if isinstance(entries, dict) else {}

    def get(self, package: str) -> str | None:
        entry = self.entries.get(package)
        if isinstance(entry, dict) and entry.get("state") == self.state and isinstance(entry.get("version"), str):
            return entry["version"]
        return None

    def content(self, package: str, version: str) -> bytes:
        """The cache's new content, with ``version`` for ``package`` in this state."""
        entries = dict(self.entries, **{package: {"state": self.state, "version": version}})
        return (json.dumps(entries, indent=2, sort_keys=True) + "\n").encode()


def image_name(name: str, version: str) -> str:
    """The image built for ``version`` of the package: ``name`` tagged with the version (:func:`image_tag`)."""
    return f"{name}:{image_tag(version)}"


def recipe_of(image: dict) -> str | None:
    """The recipe label of an image's inspection: which recipe of this module made it, None for another image."""
    return label(image, "dockyard.registry.recipe")


class PackageImage:
    """One build: ``run_command`` is AnsibleModule.run_command, ``images`` a DockerImages of the daemon."""

    def __init__(self, run_command, images, params: dict) -> None:
        self.run_command, self.images, self.params = run_command, images, params

    def version(self) -> str:
        rc, out, err = self.run_command(["apt-cache", "policy", self.params["package"]],
                                        environ_update={"LC_ALL": "C"})
        version = candidate_version(out) if rc == 0 else None
        if version is None:
            raise PackageImageError(
                f"the APT sources offer no installable version of {self.params['package']} (registry_server_package_name)"
                f"{': ' + err.strip() if err.strip() else ''}. Run apt-get update, or enable the repository that "
                "carries it, or use another registry_image_source (pull, or archive with registry_image_archive)")
        return version

    def current(self, image: str) -> dict | None:
        """The image when it exists and was built by this recipe; None when it must be built."""
        found = self.images.inspect(image)
        return found if found and recipe_of(found) == self.params["recipe"] else None

    def build(self, image: str, version: str) -> str:
        """Download and unpack the packages, lay out the image's files, build it; return its ID."""
        with tempfile.TemporaryDirectory(suffix=".dockyard-registry-image") as work:
            unpacked = os.path.join(work, "package")
            for spec in (f"{self.params['package']}={version}", self.params["healthcheck_package"]):
                self._run(["apt-get", "download", spec], work, f"downloading {spec}")
            for deb in sorted(name for name in os.listdir(work) if name.endswith(".deb")):
                self._run(["dpkg-deb", "--extract", os.path.join(work, deb), unpacked], work, f"unpacking {deb}")
            binary = self._packaged(unpacked, self.params["binary"], self.params["package"], "registry_server_package_binary")
            wget = self._packaged(unpacked, self.params["healthcheck_binary"], self.params["healthcheck_package"],
                                  "registry_server_package_wget_binary")
            rc, out, err = self.run_command(["ldd", wget], environ_update={"LC_ALL": "C"})
            if "not a dynamic executable" not in out + err:
                raise PackageImageError(f"{self.params['healthcheck_binary']} of {self.params['healthcheck_package']} "
                                        "(registry_server_package_wget_binary) is not statically linked: name a static "
                                        "binary, such as busybox-static's /bin/busybox")
            rc, out, err = self.run_command(["ldd", binary], environ_update={"LC_ALL": "C"})
            if (rc != 0 and "not a dynamic executable" not in out + err) or "not found" in out:
                raise PackageImageError(f"ldd cannot list what {self.params['binary']} needs: {(out + err).strip()}")
            rootfs = os.path.join(work, "rootfs")
            self._place(binary, rootfs, "/bin/registry")
            self._place(wget, rootfs, "/bin/wget")
            for library in shared_libraries(out):
                self._place(library, rootfs, library)  # copy follows links: the library under the name asked for
            os.makedirs(os.path.join(rootfs, "etc", "docker", "registry"), mode=0o755)
            with open(os.path.join(rootfs, "etc", "docker", "registry", "config.yml"), "w", encoding="utf-8") as config:
                config.write(DEFAULT_CONFIG)
            with open(os.path.join(work, "Dockerfile"), "w", encoding="utf-8") as dockerfile:
                dockerfile.write(DOCKERFILE.format(package=self.params["package"], version=version))
            labels = {
                "org.opencontainers.image.title": "CNCF Distribution registry",
                "org.opencontainers.image.version": version,
                "dockyard.registry.package": self.params["package"],
                "dockyard.registry.package-version": version,
                "dockyard.registry.recipe": self.params["recipe"],
            }
            return self.images.build(work, image, labels)

    def _run(self, argv: list[str], cwd: str, doing: str) -> None:
        rc, out, err = self.run_command(argv, cwd=cwd)
        if rc != 0:
            raise PackageImageError(f"{doing} failed: {(err or out).strip()}")

    @staticmethod
    def _packaged(unpacked: str, path: str, package: str, option: str) -> str:
        """``path`` in the unpacked package; on a merged-/usr release (Debian 13) ``/bin/x`` ships as ``/usr/bin/x``."""
        merged = "/usr" + path if path.startswith(("/bin/", "/sbin/", "/lib/", "/lib64/")) else None
        for candidate in (path, merged) if merged else (path,):
            found = os.path.join(unpacked, candidate.lstrip("/"))
            if os.path.isfile(found):
                return found
        raise PackageImageError(f"the package {package} has no {path} ({option})")

    @staticmethod
    def _place(source: str, rootfs: str, target: str) -> None:
        destination = os.path.join(rootfs, target.lstrip("/"))
        os.makedirs(os.path.dirname(destination), mode=0o755, exist_ok=True)
        shutil.copy(source, destination)
        os.chmod(destination, 0o755)
