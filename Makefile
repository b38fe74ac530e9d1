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

.PHONY: help venv site test lint unit integration engine test-deps clean

help:
	@echo "make site   deploy, trust and exercise the registry on $(INVENTORY)"
	@echo "make test   the whole test suite (lint, unit, integration)"

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

test-deps: engine
	@command -v skopeo >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends skopeo; }

lint: venv
	$(BIN)/ruff check plugins tests
	$(BIN)/yamllint --strict .

unit: venv
	$(BIN)/pytest -q tests/unit

integration: venv test-deps
	$(BIN)/pytest -q tests/integration

test: lint unit integration

clean:
	rm -rf $(VENV) .collections .pytest_cache .ruff_cache
