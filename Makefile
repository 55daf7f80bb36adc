# make test       create/refresh .venv (pinned requirements + this package) and run pytest
# make reproduce  same environment, run the whole workflow on the default configuration; the
#                 workflow writes the browsable Snakemake report, results/report.html
# make extended   the same with workflow/config/extended.yaml layered on the default
#                 (the concentration experiment at larger N)
# make report     rebuild results/report.html by hand (the workflow rebuilds it after every run)
# make clean      delete every workflow output (results/, figures/, logs/), keep the READMEs
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CORES ?= all
REPORT := results/report.html
# report text that is not a job input: a newer caption makes the report out of date
REPORT_TEXT := $(wildcard workflow/report/*.rst workflow/report/captions/*.rst)

.PHONY: venv test reproduce extended report clean

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

# The workflow rebuilds the report after every run that executed jobs (the Snakefile's
# onsuccess); make rebuilds it when it is missing or older than a caption.
reproduce: $(STAMP)
	$(VENV)/bin/snakemake --cores $(CORES)
	$(MAKE) --no-print-directory $(REPORT)

$(REPORT): $(REPORT_TEXT) | $(STAMP)
	$(VENV)/bin/snakemake --report $(REPORT)

report: $(STAMP)
	$(VENV)/bin/snakemake --report $(REPORT)

clean:
	find results figures -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
	rm -rf logs
