# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: where this host's dockerd is, its pid file and its binary.

Apart from the daemon's process (``_docker_daemon``) so that the verifier (``_x509``), which reads the binary's Go
version, ships without the Docker SDK and the service helper.
"""

from __future__ import annotations

import os
import shutil

DEFAULT_PIDFILE = "/var/run/docker.pid"
# Where a dockerd binary is looked for when no running daemon names its own.
DOCKERD_DIRECTORIES = ("/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin")


def dockerd_binary() -> str | None:
    """The first ``dockerd`` on ``PATH`` or in the directories packages install it to; None where there is none."""
    return shutil.which("dockerd", path=os.pathsep.join([os.environ.get("PATH", ""), *DOCKERD_DIRECTORIES]))
