# dockyard.registry — the two commands of the README, and the parts they are made of.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
COLLECTION_LINK := .collections/ansible_collections/dockyard/registry
INVENTORY ?= inventories/local/hosts.yml
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
# The suite must trust only what it is told to trust.
unexport REQUESTS_CA_BUNDLE

.PHONY: help venv site test lint lint-deps changelog unit unit-deps integration engine test-deps test-images molecule bench clean

help:
	@echo "make site   deploy, trust and exercise the registry on $(INVENTORY)"
	@echo "make test   the whole test suite (lint, unit, integration, molecule)"

$(BIN)/.installed: requirements.txt requirements-test.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-test.txt
	touch $@

$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn ../../.. $@

venv: $(BIN)/.installed $(COLLECTION_LINK)

site: venv
	$(BIN)/ansible-playbook -i $(INVENTORY) playbooks/site.yml

# The suite's own needs: a Docker engine (installed and started by the collection's own role) and skopeo.
engine: venv
	$(BIN)/ansible-playbook -i inventories/local/hosts.yml playbooks/engine.yml

test-deps: engine unit-deps
	@command -v skopeo >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends skopeo; }

# ansible-lint and antsibull-changelog run ansible-doc and ansible-galaxy: they must find the virtualenv's.
lint: venv lint-deps
	$(BIN)/ruff check .
	$(BIN)/yamllint --strict .
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/ansible-lint --offline
	$(BIN)/antsibull-changelog lint
	BIN="$(CURDIR)/$(BIN)" tests/sanity/run.sh

# ansible-test's shellcheck test passes with a mere warning when the program is missing.
lint-deps:
	@command -v shellcheck >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends shellcheck; }

# CHANGELOG.md and changelogs/changelog.yaml from the fragments, for the version in galaxy.yml
# (tests/unit/test_changelog.py fails when they are stale).
changelog: venv
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/antsibull-changelog release --reload-plugins --refresh

# The certificate checks run again under the host's Python with Debian's cryptography, the oldest the probe takes.
unit: venv unit-deps
	$(BIN)/pytest -q tests/unit

unit-deps:
	@/usr/bin/python3 -c 'import cryptography, pytest, yaml' 2>/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-cryptography python3-pytest python3-yaml; }

# test_docker_daemon_config.py runs Docker hosts from the molecule host image (test-images).
integration: venv test-deps test-images
	$(BIN)/pytest -q tests/integration

# The molecule scenarios' images (tests/images/build.py): the Docker host image and the registry image archive,
# each built again only when its recipe changes; a rerun costs a second.
test-images: venv engine
	$(BIN)/python tests/images/build.py

# Every molecule scenario (molecule/<scenario>/), each on Docker hosts that run their own dockerd; prints each
# scenario's wall time. MOLECULE_SCENARIOS="airgap" runs some of them.
MOLECULE_SCENARIOS ?= $(patsubst molecule/%/molecule.yml,%,$(wildcard molecule/*/molecule.yml))
molecule: venv test-images
	@for scenario in $(MOLECULE_SCENARIOS); do \
	  started=$$(date +%s); \
	  PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/molecule test --scenario-name "$$scenario" || exit 1; \
	  echo "molecule scenario $$scenario passed in $$(( $$(date +%s) - started ))s"; \
	done

test: lint unit integration molecule

# The figures of issue 8, each script writing its own section of bench/RESULTS.md. Not part of test: it takes
# minutes, and 1.4 GB of disk under bench/output while it runs. Needs the registry image that make site builds.
# site_bench.py re-runs site.yml, tears this machine's deployment down for cold runs and ends with site.yml again.
bench: venv test-deps test-images
	$(BIN)/python bench/verify_blobs.py
	$(BIN)/python bench/site_bench.py
	$(BIN)/python bench/move_bench.py
	$(BIN)/python bench/fleet_bench.py

clean:
	rm -rf $(VENV) .collections .pytest_cache .ruff_cache
