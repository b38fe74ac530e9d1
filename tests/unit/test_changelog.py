"""The changelog: fragments that antsibull-changelog accepts, and a CHANGELOG.md generated from all of them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def collection_files() -> list[str]:
    """What the collection is made of: tracked files that exist, and new files .gitignore does not exclude."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            check=True, capture_output=True, text=True).stdout.split("\0")
    return sorted({path for path in listed if path and (ROOT / path).is_file()})


def antsibull_changelog(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "ANSIBLE_NOCOLOR": "1"}
    env.pop("ANSIBLE_CONFIG", None)
    return subprocess.run([str(BIN / "antsibull-changelog"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, check=False)


def test_fragments_pass_antsibull_changelog_lint():
    run = antsibull_changelog("lint", cwd=ROOT)
    assert run.returncode == 0 and run.stdout.strip() == "", run.stdout + run.stderr


def test_every_fragment_belongs_to_the_release_in_galaxy_yml():
    version = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
    releases = yaml.safe_load((ROOT / "changelogs" / "changelog.yaml").read_text())["releases"]
    recorded = {fragment for release in releases.values() for fragment in release.get("fragments", [])}
    fragments = {path.name for path in (ROOT / "changelogs" / "fragments").glob("*.y*ml")}
    assert version in releases
    assert fragments - recorded == set(), "fragments missing from changelogs/changelog.yaml: run make changelog"


def test_changelog_is_generated_from_the_current_fragments_and_plugins(tmp_path):
    """Runs what `make changelog` runs on a copy: it must change neither file."""
    tree = tmp_path / "ansible_collections" / "dockyard" / "registry"
    for path in collection_files():
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / path, tree / path)
    run = antsibull_changelog("release", "--reload-plugins", "--refresh", cwd=tree)
    assert run.returncode == 0, run.stdout + run.stderr
    for generated in ("CHANGELOG.md", "changelogs/changelog.yaml"):
        assert (tree / generated).read_text() == (ROOT / generated).read_text(), f"{generated} is stale: make changelog"
