# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_config
short_description: The registry host's files, compared and written in one pass, and the digest the container carries
version_added: 0.2.0
description:
  - Puts the registry's configuration (C(config.yml)) and its accounts (C(htpasswd)) into O(config_dir), each 0600
    and owned by the user the registry runs as (O(data_owner)); makes the storage directory O(data_dir) (0750, owned
    by that user, everything in it too, so that storage an earlier release filled as root is handed over once), and reads
    the TLS files in O(tls_dir) that the registry_pki role wrote.
  - Writes only what differs, atomically; a run that changes nothing reads the files once.
  - Returns RV(config_digest), a digest over everything the registry reads at start (its configuration, accounts,
    certificate and key) and the container's settings (O(container_settings)). The registry_server role labels the
    container with it, so that the container is replaced exactly when one of them changes. The CA beside the
    certificate is not part of it.
  - Given O(container), looks at the container too and says in RV(container_current) whether it runs O(image) with
    that label already, so that a run that changes nothing needs no other call.
  - With O(image_package) in place of O(image), the image is the one M(dockyard.registry.package_image) builds from
    the OS package, named by the candidate version that module last read from APT and kept in its cache, for the APT
    state of now. The module says in RV(image_present) whether the host has that image, made by that recipe; where it
    does not (or APT must be asked again), the registry_server role runs M(dockyard.registry.package_image) and then
    this module again.
  - Returns the host's FQDN and default IPv4 address as the fact C(dockyard_host).
author:
  - dockyard maintainers (@dockyard)
extends_documentation_fragment:
  - dockyard.registry._attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The content of the configuration (it holds the upload secret) and of the accounts file is not shown.
  idempotent:
    support: full
options:
  config_dir:
    description: Directory of C(config.yml) and C(htpasswd) (root, 0755).
    type: path
    required: true
  data_dir:
    description: The registry's storage on the host.
    type: path
    required: true
  data_owner:
    description: Numeric user and group ID that own O(data_dir), the user the registry's process runs as.
    type: int
    default: 0
  tls_dir:
    description: Directory with C(server.crt) and C(server.key).
    type: path
  tls:
    description: Whether the registry serves TLS; then the certificate and key must be in O(tls_dir).
    type: bool
    default: true
  config:
    description: The content of C(config.yml).
    type: str
    required: true
  htpasswd:
    description: The content of C(htpasswd); empty removes the file (a registry without accounts).
    type: str
    default: ""
  container:
    description: The name of the registry's container, to look at.
    type: str
  image:
    description: The image the container must run (name and tag, or ID).
    type: str
  image_id:
    description:
      - The ID (C(sha256:<hex>)) that O(image) must have for the host to count as having it, such as the ID a
        C(docker save) archive holds for it; a host whose O(image) has another ID lacks the image.
      - Only with O(image).
    type: str
  image_package:
    description:
      - The image the container must run is the one M(dockyard.registry.package_image) builds with these options.
      - Mutually exclusive with O(image).
    type: dict
    suboptions:
      name:
        description: The image's name, as M(dockyard.registry.package_image) takes it.
        type: str
        default: dockyard/registry
      package:
        description: The OS package with the registry binary.
        type: str
        default: docker-registry
      recipe:
        description: The recipe's version, which the image's label must carry.
        type: str
        default: "2"
      cache:
        description: The cache of candidate versions that M(dockyard.registry.package_image) keeps.
        type: path
        default: /var/cache/dockyard-registry/apt-candidates.json
  container_settings:
    description: The container's settings as the role passes them to community.docker.docker_container (JSON), digested with the files.
    type: str
    default: ""
  docker_host:
    description: The Docker daemon's API address, to look at the container.
    type: str
    default: unix:///var/run/docker.sock
"""

EXAMPLES = r"""
- name: Write the registry's files
  dockyard.registry.registry_config:
    config_dir: /etc/dockyard/registry
    data_dir: /var/lib/dockyard/registry
    tls_dir: /etc/dockyard/registry/tls
    config: "{{ lookup('ansible.builtin.template', 'config.yml.j2') }}"
  register: _registry_files
"""

RETURN = r"""
config_digest:
  description: SHA-256 over the configuration, the accounts, the certificate and the key, in that order.
  returned: always
  type: str
  sample: 9f0c6a3c0e2d4f51b8e0f7d0c2a44b7b3f1e6c1d2a9b8c7d6e5f4a3b2c1d0e9f
files:
  description: The files and directories changed (or, in check mode, to change).
  returned: always
  type: list
  elements: str
container_current:
  description: Whether O(container) runs O(image) labelled with RV(config_digest), so that nothing is to change.
  returned: when O(container) is given
  type: bool
container_running:
  description: Whether O(container) runs, with whatever image and settings (a replica to drain before it is replaced).
  returned: when O(container) is given
  type: bool
image:
  description:
    - The image the container must run, O(image) or the one O(image_package) names; V(null) where the candidate version
      of O(image_package.package) is not known for the APT state of now.
  returned: when O(container) is given
  type: str
  sample: dockyard/registry:2.8.2-ds1-1
image_present:
  description: Whether the host has RV(image) (with O(image_package), made by its recipe; with O(image_id), by that ID).
  returned: when O(container) is given
  type: bool
"""

import hashlib
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.registry.plugins.module_utils._docker_client import (
    DaemonError,
    api_client,
    docker,
    require_sdk,
    sdk_errors,
)
from ansible_collections.dockyard.registry.plugins.module_utils._docker_images import DockerImages, label
from ansible_collections.dockyard.registry.plugins.module_utils._files import Files
from ansible_collections.dockyard.registry.plugins.module_utils._host import identity
from ansible_collections.dockyard.registry.plugins.module_utils._package_image import (
    CandidateCache,
    image_name,
    image_options,
    recipe_of,
)

DIGEST_LABEL = "dockyard.registry.config-digest"


def package_image_name(spec: dict) -> str | None:
    """The image package_image builds for the package's candidate version, as its cache has it for the APT state of
    now; None where APT must be asked again."""
    version = CandidateCache(spec["cache"]).get(spec["package"])
    return image_name(spec["name"], version) if version else None


def container_state(docker_host: str, container: str, image: str | None, digest: str,
                    recipe: str | None = None, image_id: str | None = None) -> tuple[bool, bool, bool]:
    """Whether ``container`` runs; whether the host has ``image`` (made by ``recipe``, with the ID ``image_id``, where
    given); and whether the container runs that image (by its current ID) with the label ``digest``."""
    with api_client(docker_host, 30) as client:
        images = DockerImages(client, docker_host)
        wanted = images.inspect(image) if image else None
        if wanted is not None and recipe is not None and recipe_of(wanted) != recipe:
            wanted = None
        if wanted is not None and image_id and wanted["Id"] != image_id:
            wanted = None
        try:
            running = client.inspect_container(container)
        except docker.errors.NotFound:
            return False, wanted is not None, False
        except sdk_errors() as exc:
            raise DaemonError(f"the Docker daemon at {docker_host} could not inspect {container}: {exc}") from exc
    is_running = bool((running.get("State") or {}).get("Running"))
    return is_running, wanted is not None, bool(wanted and is_running and running.get("Image") == wanted["Id"]
                                                and label(running, DIGEST_LABEL) == digest)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "config_dir": {"type": "path", "required": True},
            "data_dir": {"type": "path", "required": True},
            "data_owner": {"type": "int", "default": 0},
            "tls_dir": {"type": "path"},
            "tls": {"type": "bool", "default": True},
            "config": {"type": "str", "required": True, "no_log": True},
            "htpasswd": {"type": "str", "default": "", "no_log": True},
            "container": {"type": "str"},
            "image": {"type": "str"},
            "image_id": {"type": "str"},
            "image_package": {"type": "dict", "options": image_options()},
            "container_settings": {"type": "str", "default": ""},
            "docker_host": {"type": "str", "default": "unix:///var/run/docker.sock"},
        },
        required_if=[("tls", True, ("tls_dir",))],
        mutually_exclusive=[("image", "image_package")],
        required_by={"image": "container", "image_package": "container", "image_id": "image"},
        supports_check_mode=True,
    )
    params = module.params
    files = Files(module)
    config_path = os.path.join(params["config_dir"], "config.yml")
    htpasswd_path = os.path.join(params["config_dir"], "htpasswd")
    tls = [os.path.join(params["tls_dir"], name) for name in ("server.crt", "server.key")] if params["tls"] else []
    missing = [path for path in tls if not os.path.isfile(path)]
    if missing:
        module.fail_json(msg=f"missing in registry_server_tls_dir {params['tls_dir']}: {', '.join(missing)}. Run the "
                             "dockyard.registry.registry_pki role first, or put your own server.key, server.crt and "
                             "ca.crt there")
    owner = str(params["data_owner"])
    files.directory(params["config_dir"], 0o755)
    hand_over = os.path.isdir(params["data_dir"]) and os.stat(params["data_dir"]).st_uid != params["data_owner"]
    files.directory(params["data_dir"], 0o750, owner=owner, group=owner)
    if hand_over and not module.check_mode:
        for parent, directories, names in os.walk(params["data_dir"]):
            for name in directories + names:
                os.lchown(os.path.join(parent, name), params["data_owner"], params["data_owner"])
    config = params["config"].encode()
    files.file(config_path, config, 0o600, owner=owner, group=owner, secret=True)
    # Where an earlier release kept the upload secret on the host; it is in config.yml alone now.
    files.absent(os.path.join(params["config_dir"], "http-secret"), secret=True)
    htpasswd = params["htpasswd"].encode()
    if htpasswd:
        files.file(htpasswd_path, htpasswd, 0o600, owner=owner, group=owner, secret=True)
    else:
        files.absent(htpasswd_path, secret=True)
    digest = hashlib.sha256()
    for content in (config, htpasswd, *(files.read(path) or b"" for path in tls), params["container_settings"].encode()):
        digest.update(hashlib.sha256(content).digest())
    result = {"changed": files.changed, "files": files.changed_paths, "config_digest": digest.hexdigest(),
              "ansible_facts": {"dockyard_host": identity()}}
    if params["container"]:
        if not (params["image"] or params["image_package"]):
            module.fail_json(msg="container needs image or image_package: the image the container must run")
        require_sdk(module)
        spec = params["image_package"]
        image = package_image_name(spec) if spec else params["image"]
        try:
            running, present, current = container_state(params["docker_host"], params["container"], image,
                                                        result["config_digest"], spec["recipe"] if spec else None,
                                                        params["image_id"])
            result.update(container_running=running, container_current=current and not files.changed, image=image,
                          image_present=present)
        except DaemonError as exc:
            module.fail_json(msg=str(exc))
    if files.diffs:
        result["diff"] = files.diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
