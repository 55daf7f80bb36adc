# make test       create/refresh .venv (pinned requirements + this package) and run pytest
# make reproduce  same environment, run the whole workflow on the default configuration,
#                 then write the browsable Snakemake report to results/report.html
# make extended   the default workflow with the concentration experiment at larger N (about an hour)
# make clean      delete every workflow output (results/, figures/, logs/), keep the READMEs
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CORES ?= all

.PHONY: venv test reproduce extended clean

venv: $(STAMP)

# Created only when missing.
$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstalled whenever the pins or the package metadata change.
$(STAMP): $(PY) requirements.txt pyproject.toml
	$(PY) -m pip install --disable-pip-version-check -r requirements.txt -e .
	touch $@

test: $(STAMP)
	$(PY) -m pytest

extended: $(STAMP)
	$(VENV)/bin/snakemake --cores $(CORES) --configfile workflow/config/default.yaml workflow/config/extended.yaml
	$(VENV)/bin/snakemake --report results/report.html --configfile workflow/config/default.yaml workflow/config/extended.yaml

reproduce: $(STAMP)
	$(VENV)/bin/snakemake --cores $(CORES)
	$(VENV)/bin/snakemake --report results/report.html

clean:
	find results figures -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
	rm -rf logs
