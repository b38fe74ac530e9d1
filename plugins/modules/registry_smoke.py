# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_smoke
short_description: Prove a registry works end to end from a Docker host, with a tiny image built there
version_added: 0.2.0
description:
  - Builds a tiny image C(FROM scratch) on the host's Docker daemon (one text file; nothing is pulled from anywhere),
    pushes it to O(name), removes the registry's tag from the host again, pulls the image back by the digest the
    push reported, and checks that the registry, the manifest bytes it serves and the daemon agree on that digest.
  - The steps are those of M(dockyard.registry.registry_image) (V(pushed), then V(pulled) by digest, then
    V(verified)), in one process.
  - The local image O(local) is built only when missing or built from other content, so that its digest, and
    therefore the registry's, stays the same from one run to the next; a run that finds everything in place changes
    nothing.
  - Trusts for the registry what the Docker daemon on the same host trusts, as M(dockyard.registry.registry_image)
    does.
author:
  - dockyard maintainers (@dockyard)
extends_documentation_fragment:
  - dockyard.registry._attributes
  - dockyard.registry._attributes.ACTIONGROUP
  - dockyard.registry._registry
  - dockyard.registry._registry.DOCKER
  - dockyard.registry._registry.IMAGE
attributes:
  check_mode:
    support: partial
    details:
      - A push changes the registry, so in check mode the module does nothing and reports no change.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  name:
    description: The image in the registry, with the registry's address and a tag, for example V(registry.example.com:5000/dockyard/smoke:1).
    type: str
    required: true
  local:
    description: The local image built on the host, with a tag.
    type: str
    default: dockyard/smoke:1
  text:
    description: The content of the image's one file, C(/hello.txt).
    type: str
    default: "Hello from dockyard.registry.\n"
  public_keys:
    description:
      - Cosign public keys (each its PEM text or a path on the host). Given, the pull back is refused unless the
        smoke image's digest has a valid signature by one of them, as
        O(dockyard.registry.registry_image#module:verify=signature) checks it.
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: Push, pull back and verify a tiny image
  dockyard.registry.registry_smoke:
    name: registry.example.com:5000/dockyard/smoke:1
  register: _smoke
"""

RETURN = r"""
digest:
  description: The image's manifest digest in the registry, on which the registry, its manifest bytes and the daemon agreed.
  returned: success, except in check mode
  type: str
  sample: sha256:3ab7cd1d49dbabec8eced2dcac731c13ecfcf0db2d94eb8282e8d30524b28ec7
image_id:
  description: The local image's ID.
  returned: success, except in check mode
  type: str
steps:
  description: Which step changed something.
  returned: success, except in check mode
  type: dict
  contains:
    built:
      description: O(local) was built (it was missing, or built from other content).
      type: bool
    pushed:
      description: The image was pushed (the registry did not serve it under O(name)).
      type: bool
    untagged:
      description: The tag O(name) that the push left on the host was removed.
      type: bool
    pulled:
      description: The image was pulled back by digest (or while verifying).
      type: bool
    signed:
      description: With O(sign), a signature of the image by the key was added (none by it was there).
      type: bool
      returned: with O(sign)
signature:
  description: With O(public_keys), the signature the pull accepted (see the RV(dockyard.registry.registry_image#module:signature) of registry_image).
  returned: with O(public_keys)
  type: dict
"""

import hashlib
import io
import tarfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.registry.plugins.module_utils._docker_client import api_client, require_sdk
from ansible_collections.dockyard.registry.plugins.module_utils._docker_images import DockerImages, label
from ansible_collections.dockyard.registry.plugins.module_utils._image import (
    TASK_ERRORS,
    RegistryImage,
    image_argument_spec,
)
from ansible_collections.dockyard.registry.plugins.module_utils._reference import parse_reference
from ansible_collections.dockyard.registry.plugins.module_utils._registry.options import connection_requirements

DOCKERFILE = """\
FROM scratch
COPY hello.txt /hello.txt
LABEL org.opencontainers.image.title="dockyard.registry smoke test"
"""

# The label that names the content an image was built from: an image with another is built again.
CONTEXT_LABEL = "dockyard.registry.smoke-context"


def build_context(text: str) -> tuple[bytes, str]:
    """The build context as a tar archive (fixed owners and times), and the sha256 of its files."""
    files = {"Dockerfile": DOCKERFILE.encode(), "hello.txt": text.encode()}
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for name, content in files.items():
            member = tarfile.TarInfo(name)
            member.size, member.mode = len(content), 0o644
            tar.addfile(member, io.BytesIO(content))
    digest = hashlib.sha256(b"\0".join(name.encode() + b"\0" + content for name, content in files.items()))
    return archive.getvalue(), digest.hexdigest()


def image_task(params: dict, **overrides) -> dict:
    """One step of registry_image, with this module's connection and daemon options."""
    step = {key: params[key] for key in ("ca_path", "timeout", "username", "password", "docker_host", "insecure",
                                         "insecure_send_credentials")}
    step.update(source=None, digest=None, verify="manifest", platform=None, pull=True, sign=None, public_keys=None)
    step.update(overrides)
    return RegistryImage(step, check_mode=False).run()


def smoke(params: dict) -> dict:
    name, local = params["name"], params["local"]
    context, content = build_context(params["text"])
    steps = {}
    with api_client(params["docker_host"], params["timeout"]) as api:
        images = DockerImages(api, params["docker_host"])
        found = images.inspect(local)
        if found is not None and label(found, CONTEXT_LABEL) == content:
            image_id, steps["built"] = found["Id"], False
        else:
            image_id, steps["built"] = images.build(None, local, {CONTEXT_LABEL: content}, io.BytesIO(context)), True
        pushed = image_task(params, name=name, source=local, state="pushed", sign=params["sign"])
        steps["pushed"] = pushed["changed"]
        digest = pushed["digest"]
        # The tag the push left behind goes: the pull by digest must bring the image back from the registry.
        steps["untagged"] = images.remove(pushed["name"])
    # With public_keys, the pull is refused unless the digest has a valid signature by one of them.
    pulled = image_task(params, name=str(parse_reference(pushed["name"]).by_digest(digest)), state="pulled",
                        **({"verify": "signature", "public_keys": params["public_keys"]} if params["public_keys"] else {}))
    verified = image_task(params, name=name, digest=digest, state="verified")
    steps["pulled"] = pulled["changed"] or verified["changed"]
    if params["sign"]:
        steps["signed"] = pushed["signature"]["added"]
    result = {"changed": any(steps.values()), "digest": verified["digest"], "image_id": image_id, "steps": steps}
    if "signature" in pulled:
        result["signature"] = pulled["signature"]
    return result


def main() -> None:
    spec = image_argument_spec(
        name={"type": "str", "required": True},
        local={"type": "str", "default": "dockyard/smoke:1"},
        text={"type": "str", "default": "Hello from dockyard.registry.\n"},
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True, **connection_requirements())
    if module.check_mode:
        module.exit_json(changed=False, msg="check mode: the smoke test pushes to the registry, so it runs in a real "
                                            "run only")
    require_sdk(module)
    try:
        result = smoke(module.params)
    except TASK_ERRORS as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
