"""The cosign tool image: Debian 13's ``cosign`` package on the Debian 13 base host image, built as the host images are.

``dockyard/cosign-trixie`` is the trixie base image of ``build.py`` (``debootstrap --variant=minbase``) with Debian's
``cosign`` installed with APT in a container and committed, tagged by a hash of that recipe. Nothing is downloaded
from anywhere but the Debian mirror. The tests run cosign from it (``docker run --rm --network host``) to make key
pairs, and to sign and verify images in the same format the collection writes and reads.

Usage (as root, under the Docker lock): python tests/images/cosign.py [--force]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import build

COSIGN_IMAGE = "dockyard/cosign-trixie"
COSIGN_PACKAGES = ["cosign"]


def build_cosign_image(force: bool = False) -> str:
    """The tag of the cosign tool image, built first when its recipe changed or it is missing."""
    base = build.build_base_image(force, "trixie")
    return build.apt_layer_image(base, COSIGN_IMAGE, COSIGN_PACKAGES, build.IDLE_COMMAND, force=force,
                                 keep_lists=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--force", action="store_true", help="build again even when the recipe did not change")
    args = parser.parse_args()
    build.log(f"cosign tool image: {build_cosign_image(args.force)} ({COSIGN_IMAGE}:latest)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
