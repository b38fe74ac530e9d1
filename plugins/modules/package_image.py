# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: package_image
short_description: Build the registry image FROM scratch from the OS package of CNCF Distribution
version_added: 0.2.0
description:
  - For sites that cannot pull C(registry:2) but have an APT mirror. Reads the candidate version of O(package),
    and unless the host's Docker daemon has the image O(name)C(:<version>) made by this recipe, downloads the
    package and a static C(wget) (O(healthcheck_package)), unpacks them without installing them, and builds an
    image laid out like C(registry:2) from the registry binary, the shared libraries C(ldd) lists for it, a default
    configuration and C(/bin/wget) for the container's health check.
  - The packages are never installed (installing Debian's C(docker-registry) would start its own registry on port
    5000 wherever systemd runs).
  - A run that finds the image is one image inspection. The package's candidate version is read with
    C(apt-cache policy) once, then kept in O(cache) with a digest of the APT state it was read in (the size and
    modification time of every file under C(/var/lib/apt/lists), C(/etc/apt) and of C(/var/lib/dpkg/status)).
    C(apt-get update), a new source or pin, a package installed or removed, each makes the next run ask APT again.
author:
  - dockyard maintainers (@dockyard)
requirements:
  - APT (C(apt-cache), C(apt-get download), C(dpkg-deb)) and C(ldd) on the host.
extends_documentation_fragment:
  - dockyard.registry._attributes
  - dockyard.registry._registry.DOCKER
attributes:
  check_mode:
    support: full
    details:
      - Predicts the build without downloading anything.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  name:
    description: The image's name; its tag is the package's version with the characters Docker refuses in a tag as C(-).
    type: str
    default: dockyard/registry
  package:
    description: The OS package with the registry binary.
    type: str
    default: docker-registry
  binary:
    description: The registry binary's path in O(package).
    type: path
    default: /usr/bin/docker-registry
  healthcheck_package:
    description: A statically linked package whose binary becomes the image's C(/bin/wget).
    type: str
    default: busybox-static
  healthcheck_binary:
    description: That binary's path in O(healthcheck_package).
    type: path
    default: /bin/busybox
  recipe:
    description: The recipe's version, a label of the image; an image of another recipe is built again.
    type: str
    default: "2"
  cache:
    description:
      - The host file that keeps the candidate version of each package with the APT state it was read in. Written
        (mode 0644) only when APT was asked, never in check mode; removing it only makes the next run ask APT again.
    type: path
    default: /var/cache/dockyard-registry/apt-candidates.json
  timeout:
    description: Seconds to wait for the Docker daemon.
    type: int
    default: 300
"""

EXAMPLES = r"""
- name: Build the registry image from Debian's docker-registry package
  dockyard.registry.package_image:
  register: _registry_image
"""

RETURN = r"""
image:
  description: The image's name and tag.
  returned: always
  type: str
  sample: dockyard/registry:2.8.2-ds1-1
version:
  description: The package's version.
  returned: always
  type: str
  sample: 2.8.2+ds1-1
version_cached:
  description: Whether the version came from O(cache) (the APT state unchanged since it was read) instead of APT.
  returned: always
  type: bool
image_id:
  description: The image's ID.
  returned: unless a build is predicted in check mode
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.registry.plugins.module_utils._docker_client import (
    DaemonError,
    api_client,
    docker_argument_spec,
    require_sdk,
)
from ansible_collections.dockyard.registry.plugins.module_utils._docker_images import DockerImages
from ansible_collections.dockyard.registry.plugins.module_utils._files import Files
from ansible_collections.dockyard.registry.plugins.module_utils._package_image import (
    CandidateCache,
    PackageImage,
    PackageImageError,
    image_name,
    image_options,
)


def main() -> None:
    spec = docker_argument_spec()
    spec.update(image_options())
    spec.update(
        binary={"type": "path", "default": "/usr/bin/docker-registry"},
        healthcheck_package={"type": "str", "default": "busybox-static"},
        healthcheck_binary={"type": "path", "default": "/bin/busybox"},
        timeout={"type": "int", "default": 300},
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    require_sdk(module)
    params = module.params
    try:
        with api_client(params["docker_host"], params["timeout"]) as client:
            build = PackageImage(module.run_command, DockerImages(client, params["docker_host"]), params)
            cache = CandidateCache(params["cache"])
            version = cache.get(params["package"])
            result = {"changed": False, "version_cached": version is not None}
            if version is None:
                version = build.version()
                # A cache, not a change of the host: Files of its own, whose changes the result does not count.
                Files(module).file(params["cache"], cache.content(params["package"], version), 0o644)
            image = image_name(params["name"], version)
            result.update(image=image, version=version)
            current = build.current(image)
            if current is not None:
                result["image_id"] = current["Id"]
            else:
                result["changed"] = True
                if not module.check_mode:
                    result["image_id"] = build.build(image, version)
    except (PackageImageError, DaemonError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
