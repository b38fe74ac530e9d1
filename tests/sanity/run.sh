#!/usr/bin/env bash
# ansible-test sanity (every test) on a copy of the checkout under a temporary
# ansible_collections/dockyard/registry tree, the layout ansible-test needs.
#
#   tests/sanity/run.sh                          every sanity test
#   tests/sanity/run.sh --test validate-modules  one of them (arguments go to ansible-test sanity)
#
# A copy, not the checkout: ansible-test needs that directory layout, trips over what it leaves in
# tests/output, and must see only what the collection is made of (what git tracks, plus new files
# that .gitignore does not exclude), never .venv or .collections.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-$ROOT/.venv/bin}
PYTHON_VERSION=${SANITY_PYTHON:-3.11}
PIP_CONF=${SANITY_PIP_CONFIG_FILE:-/etc/pip.conf}

# Without shellcheck, ansible-test passes its shellcheck test with a mere warning (make lint-deps installs it).
command -v shellcheck >/dev/null || { echo "$0: shellcheck is missing (make lint-deps installs it)" >&2; exit 1; }

# ansible-test bootstraps pip in each of its virtualenvs with a get-pip script that it downloads from
# ci-files.testing.ansible.com, which this machine cannot reach, and it runs that script with an
# environment that has lost the machine's pip configuration. A script cached under the name it looks
# for is used instead: this stand-in installs pip with ensurepip and then what ansible-test asked for.
pip_version=$(PYTHON_VERSION=$PYTHON_VERSION "$BIN/python" - <<'EOF'
import os
from types import SimpleNamespace
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(SimpleNamespace(version=os.environ["PYTHON_VERSION"]))["pip"])
EOF
)
get_pip="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
mkdir -p "$(dirname "$get_pip")"
cat >"$get_pip.new" <<EOF
"""Stand-in for ansible-test's get-pip bootstrap (written by dockyard.registry's tests/sanity/run.sh)."""
import os
import subprocess
import sys

env = dict(os.environ, PIP_CONFIG_FILE="$PIP_CONF")
subprocess.run([sys.executable, "-m", "ensurepip", "--upgrade"], check=True, env=env)
# get-pip's own switches, which pip itself rejects.
args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
subprocess.run([sys.executable, "-m", "pip", "install", *args], check=True, env=env)
EOF
if cmp -s "$get_pip.new" "$get_pip"; then rm -f "$get_pip.new"; else mv -f "$get_pip.new" "$get_pip"; fi

work=$(mktemp -d "${TMPDIR:-/tmp}/dockyard-sanity.XXXXXX")
trap 'rm -rf "$work"' EXIT
tree="$work/ansible_collections/dockyard/registry"
mkdir -p "$tree"

# Tracked files that still exist, and untracked files that .gitignore does not exclude.
cd "$ROOT"
git ls-files -z --cached --others --exclude-standard \
  | while IFS= read -r -d '' path; do
      case "$path" in .venv/* | .collections/*) continue ;; esac
      [[ -e "$path" || -L "$path" ]] && printf '%s\0' "$path"
    done \
  | sort -zu \
  | tar --null --no-recursion -T - -cf - \
  | tar -xf - -C "$tree"

# The collection whose plugin utilities a filter of the collection imports (make venv links it into .collections),
# beside the copy, where ansible-test's import and ansible-doc tests look for it.
mkdir -p "$work/ansible_collections/community"
cp -rL "$ROOT/.collections/ansible_collections/community/docker" "$work/ansible_collections/community/docker"

cd "$tree"
PATH="$BIN:$PATH" "$BIN/ansible-test" sanity --local --python "$PYTHON_VERSION" --requirements "$@"
