# The two commands of the README:  `make run`  and  `make test`.
# Each creates the virtual environment on first use and installs the pinned dependencies.
PYTHON ?= python3
VENV ?= .venv
CORES ?= 2
SNAKEMAKE_ARGS ?=
BIN := $(VENV)/bin

.PHONY: run annotate test figures report docs clean-results

$(BIN)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(BIN)/.installed-dev: $(BIN)/.installed requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

## run: the whole pipeline on the embedded default dataset (CORES=8 to use more).
# A run killed hard leaves Snakemake's lock behind; it is removed only when no run is alive in the
# run's folder (this one, or the one of a `-d` in SNAKEMAKE_ARGS, which diffseg.runtime.stale_lock reads).
# SNAKEMAKE_ARGS (a target such as `validate`, options) go first: `--resources` would swallow a target.
run: $(BIN)/.installed
	if $(BIN)/python -m diffseg.runtime.stale_lock $(SNAKEMAKE_ARGS); then $(BIN)/snakemake --unlock --cores 1 $(SNAKEMAKE_ARGS); fi
	$(BIN)/snakemake $(SNAKEMAKE_ARGS) --cores $(CORES) --resources gpu=1

## annotate: segment every image of COHORT (a folder) with the trained model and chosen settings of
# the run folder MODEL (default: this configuration's run, results/synthetic after `make run`); it
# prints where the review page and the masks are. SNAKEMAKE_ARGS may add `--configfile` (shard size,
# review flags), not `--config`, which the target's own would replace.
ifneq ($(filter annotate,$(MAKECMDGOALS)),)
ifeq ($(strip $(COHORT)),)
$(error usage: make annotate COHORT=path/to/images [MODEL=results/<run>])
endif
endif
annotate: $(BIN)/.installed
	if $(BIN)/python -m diffseg.runtime.stale_lock $(SNAKEMAKE_ARGS); then $(BIN)/snakemake --unlock --cores 1 $(SNAKEMAKE_ARGS); fi
	$(BIN)/snakemake annotate $(SNAKEMAKE_ARGS) --cores $(CORES) --resources gpu=1 --config 'cohort=$(COHORT)' $(if $(MODEL),'model=$(MODEL)')

# tests/test_report.py renders the report in headless Chromium (Debian's `chromium`): installed here
# when missing and possible (root with apt); otherwise that one test is skipped and says why.
$(BIN)/.browser: $(BIN)/.installed
	command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; } || \
	  echo "chromium could not be installed: the report screenshot test will be skipped"
	touch $@

# tests/test_slurm.py runs the pipeline through profiles/slurm on a one-node SLURM cluster it starts
# itself: Debian's slurm-wlm and munge are installed here when missing and possible (root with apt);
# otherwise that test is skipped and says why (under CI it fails instead).
$(BIN)/.slurm: $(BIN)/.installed
	command -v slurmctld >/dev/null && command -v munged >/dev/null || { [ "$$(id -u)" = 0 ] && \
	  command -v apt-get >/dev/null && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge; } || \
	  echo "slurm-wlm and munge could not be installed: the SLURM profile test will be skipped"
	touch $@

## figures: redraw every figure from existing results (nothing upstream is recomputed for a code change).
FIGURE_RULES := draw_review_first draw_overview draw_noise_difference draw_steps draw_regions draw_crf draw_table1 draw_dice_per_step draw_ged draw_loss
figures: $(BIN)/.installed
	$(BIN)/snakemake figures --cores $(CORES) --rerun-triggers mtime --forcerun $(FIGURE_RULES) $(SNAKEMAKE_ARGS)

## report: the self-contained HTML report of the last run (every figure, its caption, config, tables).
report: $(BIN)/.installed
	$(BIN)/snakemake --report results/report.html $(SNAKEMAKE_ARGS)

## docs: after `make run` (and `snakemake ablate` on the ISIC sample, and the train_folder.yaml run),
# copy the documents the runs wrote into docs/ and regenerate the README's "What to expect" from
# them (tests/test_docs.py checks that the README and docs/ agree). After the two benchmark runs
# (config/README.md, `benchmark`), their documents, figures and chosen settings become
# docs/benchmark.md and docs/benchmark/<run>/ (tests/test_defaults.py reads the ISIC choice there); a
# benchmark whose results are not on this machine keeps its committed document there.
docs: $(BIN)/.installed
	test -f results/synthetic/run.md || { echo "results/synthetic/run.md is missing: run make run first" >&2; exit 1; }
	cp results/synthetic/run.md docs/default_run.md
	mkdir -p docs/figures && cp results/synthetic/figures/overview.png docs/figures/overview.png
	for run in benchmark_isic2017 benchmark_ham10000; do if [ -f results/$$run/selection/chosen.yaml ]; then mkdir -p docs/benchmark/$$run && cp results/$$run/selection/chosen.yaml docs/benchmark/$$run/chosen.yaml; fi; done
	if [ -f results/isic2017/validate/ablation.md ]; then cp results/isic2017/validate/ablation.md docs/validation.md; fi
	if [ -f results/dermoscopy/run.md ]; then cp results/dermoscopy/run.md docs/dermoscopy_run.md; fi
	roots="$$(for run in benchmark_isic2017 benchmark_ham10000; do [ -f results/$$run/benchmark.md ] && echo results/$$run; done)"; \
	  if [ -n "$$roots" ]; then $(BIN)/python -m diffseg.reports.benchmark_docs docs/benchmark.md $$roots; fi
	$(BIN)/python -m diffseg.reports.expectations README.md docs/default_run.md docs/validation.md $(wildcard docs/benchmark.md) $$([ -f docs/dermoscopy_run.md ] && echo --run docs/dermoscopy_run.md)

## test: lint, unit tests and the end-to-end pipeline test.
test: $(BIN)/.installed-dev $(BIN)/.browser $(BIN)/.slurm
	$(BIN)/ruff check src scripts tests benchmarks
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean-results:
	rm -rf results logs .snakemake
