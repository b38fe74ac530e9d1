# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: the daemon's images through the Docker SDK (inspect, tag, push,
pull, build, remove), their labels; the SDK's and its transport's errors become DaemonError.
"""

from __future__ import annotations

import contextlib

from ansible_collections.dockyard.registry.plugins.module_utils._docker_client import (
    DaemonError,
    docker,
    requests_exceptions,
    sdk_errors,
    urllib3_exceptions,
)


def label(inspection: dict | None, key: str) -> str | None:
    """The label ``key`` of an image's or a container's inspection (``Config.Labels``); None where it has none."""
    return (((inspection or {}).get("Config") or {}).get("Labels") or {}).get(key)


class DockerImages:
    """The daemon's images through the Docker SDK: inspect, tag, push, pull; its errors become DaemonError.

    ``auth_config`` ({username, password}) goes with each push and pull where the module was given credentials;
    otherwise the SDK finds a stored login itself.
    """

    def __init__(self, client, host: str, auth_config: dict | None = None) -> None:
        self.api, self.host, self.auth_config = client, host, auth_config

    def info(self) -> dict:
        with self._errors("describe itself"):
            return self.api.info()

    def inspect(self, image: str) -> dict | None:
        """The daemon's inspection of ``image`` (name, reference, ``name@digest`` or ID), or None if it lacks it."""
        with self._errors(f"inspect image {image}"):
            try:
                return self.api.inspect_image(image)
            except docker.errors.NotFound:
                return None

    def tag(self, image_id: str, repository: str, tag: str) -> None:
        with self._errors(f"tag image {image_id} as {repository}:{tag}"):
            self.api.tag(image_id, repository, tag)

    def push(self, repository: str, tag: str, action: str) -> list[dict]:
        """Push ``repository:tag``; return the daemon's progress messages (an error message raises)."""
        with self._errors(action):
            progress = self.api.push(repository, tag=tag, stream=True, decode=True, auth_config=self.auth_config)
            return list(self._follow(progress, action))

    def pull(self, repository: str, tag_or_digest: str, action: str) -> None:
        with self._errors(action):
            progress = self.api.pull(repository, tag=tag_or_digest, stream=True, decode=True,
                                     auth_config=self.auth_config)
            for _line in self._follow(progress, action):
                pass

    def build(self, path: str | None, tag: str, labels: dict, context=None) -> str:
        """Build the directory ``path``, or the tar archive ``context`` (a file object), as ``tag`` (no pull: nothing
        comes from a registry); return the image ID."""
        action = f"build {tag}"
        source = {"path": path} if context is None else {"fileobj": context, "custom_context": True}
        with self._errors(action):
            output = self.api.build(**source, tag=tag, labels=labels, pull=False, rm=True, forcerm=True, decode=True)
            for _line in self._follow(output, action):
                pass
        built = self.inspect(tag)
        if built is None:
            raise DaemonError(f"the Docker daemon at {self.host} reported no error building {tag}, but has no such image")
        return built["Id"]

    def remove(self, image: str) -> bool:
        """Remove ``image`` (a tag: an image with other tags only loses this one); False when there was none."""
        with self._errors(f"remove image {image}"):
            try:
                self.api.remove_image(image)
            except docker.errors.NotFound:
                return False
        return True

    def _follow(self, progress, action: str):
        """Yield the daemon's progress messages; its error message, if one comes, becomes a DaemonError."""
        for line in progress:
            if "error" in line:
                raise DaemonError(f"the Docker daemon at {self.host} could not {action}: {line['error']}")
            yield line

    @contextlib.contextmanager
    def _errors(self, action: str):
        """Turn Docker SDK and transport errors into a DaemonError that says what the daemon could not do."""
        try:
            yield
        except sdk_errors() as exc:
            if isinstance(exc, (urllib3_exceptions.ProtocolError, requests_exceptions.ChunkedEncodingError)):
                raise DaemonError(f"the Docker daemon at {self.host} could not {action}: the connection to the daemon "
                                  f"broke off in the middle ({exc}), as when the daemon stops or restarts (its log "
                                  "says which); run again once it answers") from exc
            raise DaemonError(f"the Docker daemon at {self.host} could not {action}: {exc}") from exc
