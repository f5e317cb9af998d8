# zsarbench: `make run` installs and runs the main job; `make test` runs the tests.
PY      ?= python3.11
VENV    ?= .venv
BIN     := $(VENV)/bin
PROTOCOL ?= synth-ucf-0-50
METHOD  ?= rest18

.PHONY: install run lint test test-fast test-unit bench bench-gpu clean tables reference tune-reference test-scale

$(BIN)/zsarbench: pyproject.toml baselines/pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch/torchvision are pinned; pip takes them from local wheels where they exist
	$(BIN)/pip install --quiet -e '.[test]'
	# the baselines plugin package (baselines/): registers its methods through entry points
	$(BIN)/pip install --quiet --no-deps -e ./baselines
	touch $@

install: $(BIN)/zsarbench

run: install
	$(BIN)/zsarbench run $(METHOD) --protocol $(PROTOCOL)

# pyflakes, import order and bugbear ([tool.ruff] in pyproject.toml); every test target runs it first
lint: install
	$(BIN)/ruff check zsarbench baselines tests bench

test: install lint
	$(BIN)/python -m pytest -q

test-fast: install lint
	$(BIN)/python -m pytest -q -m "not slow"

# No model training and no distributed ranks (marker `train`, pyproject.toml): about 2 minutes on 2 cores.
test-unit: install lint
	$(BIN)/python -m pytest -q -m "not slow and not train" $(PYTEST_ARGS)

# The Kinetics-sized smoke (tests/test_scale.py: 545,000 links, tens of minutes on 2 cores); `make test`
# and CI leave it out (pyproject.toml addopts: -m 'not scale')
test-scale: install
	$(BIN)/python -m pytest -q -m scale

# ResT_18 training/evaluation clips/s, compute-only vs end to end (mp4, frame cache), with the CPU's ISA
# and the warm-up step rate before/after the one-pixel convolution path, in one run:
# results/bench/clip_throughput-<UTC time>.json; then the decode budget (decord, torchcodec, the clip
# store on generated 340x256 H.264 and 320x240 MPEG-4 files, per core, cores per GPU):
# results/bench/decode_throughput-<UTC time>.json (docs/scale.md). bench-gpu: 16 x 224^2 at batch 64,
# and the largest batch of ResT_18/34/101 (needs a CUDA GPU).
bench: install
	$(BIN)/python bench/clip_throughput.py
	$(BIN)/python bench/decode_throughput.py

bench-gpu: install
	$(BIN)/python bench/clip_throughput.py --preset gpu --max-batch
	$(BIN)/python bench/decode_throughput.py --device cuda

# Tables 1-9 (Markdown, LaTeX) and figures from $(RESULTS)/**/*.json, and the generated blocks of
# $(RESULTS)/README.md (docs/results.md).
RESULTS ?= results
tables: install
	$(BIN)/zsarbench tables --results-dir $(RESULTS)
	$(BIN)/zsarbench figures --results-dir $(RESULTS)

# The whole synthetic benchmark, then `make tables` (long: hours on 2 CPU cores): every registered
# method but the CI-sized *tiny* ones and those that need a user's weights file (clip_frames*: no
# weights ship with zsarbench) on every synthetic protocol; the main method without overlap
# removal (Table 7); every `zsarbench ablate` table, on the 0/50 protocols (constraints, Table 8) or
# on each table's default protocols (the paper's columns: `zsarbench ls tables`; zsarbench/paper_tables.py). The
# ablation tables use the protocols' own recipe (REF_PROFILE), so they reuse the models the runs
# trained. Every command runs each training seed of REF_SEEDS (one model and one results file per
# seed; the tables and orderings.md pool them). REF_ARGS goes to each command (e.g.
# REF_ARGS="--cache-dir /data/cache").
# REF_TUNED=1: each method's `run` on a protocol uses its tuned overlay $(REF_TUNED_DIR)/<method>--<protocol>.toml
# where that file exists (`make tune-reference` writes them), and prints which; the results are tuned
# rows (their protocol.tuned records the study and its budget), shown beside the untuned ones and
# tested apart in orderings.md ("Equal-budget tuned"). Without an overlay the protocol itself is run.
# The Table 7 run and the ablations always use the protocols as they are.
REF_METHODS   ?= $(shell $(BIN)/python -c "from zsarbench.registry import list_methods; \
                 print(' '.join(m for m in list_methods() if 'tiny' not in m and not m.startswith('clip_frames')))" 2>/dev/null)
REF_MAIN      ?= rest18
REF_P50       ?= synth-ucf-0-50 synth-hmdb-0-50
REF_P100      ?= synth-ucf-0-100 synth-hmdb-0-100
REF_ABLATIONS ?= $(shell $(BIN)/python -c "from zsarbench.paper_tables import ABLATIONS; \
                 print(' '.join(n for n in ABLATIONS if n != 'constraints'))" 2>/dev/null)
REF_PROFILE   ?= protocol
REF_SEEDS     ?= 0-2
REF_ARGS      ?=
REF_TUNED     ?=
REF_TUNED_DIR ?= protocols/tuned
ZB_REF   = $(BIN)/zsarbench
commas   = $(subst $(eval) ,$(comma),$(strip $(1)))
comma   := ,
reference: install
	for m in $(REF_MAIN) $(filter-out $(REF_MAIN),$(REF_METHODS)); do \
	  ps=""; for p in $(REF_P50) $(REF_P100); do o=$(REF_TUNED_DIR)/$$m--$$p.toml; \
	    if [ -n "$(REF_TUNED)" ] && [ -f $$o ]; then echo "reference: $$m on $$p: tuned overlay $$o"; p=$$o; \
	    elif [ -n "$(REF_TUNED)" ]; then echo "reference: $$m on $$p: no tuned overlay ($$o), the protocol as it is"; fi; \
	    ps="$$ps$${ps:+,}$$p"; done; \
	  $(ZB_REF) run $$m -p $$ps --results-dir $(RESULTS) --seeds $(REF_SEEDS) $(REF_ARGS) || exit 1; done
	$(ZB_REF) run $(REF_MAIN) -p $(call commas,$(REF_P50)) --set 'source.remove_overlap_with=[]' --accept class-overlap \
	  --results-dir $(RESULTS) --seeds $(REF_SEEDS) $(REF_ARGS)
	$(ZB_REF) ablate constraints -m $(REF_MAIN) $(addprefix -p ,$(REF_P50)) --results-dir $(RESULTS) --seeds $(REF_SEEDS) $(REF_ARGS)
	for a in $(REF_ABLATIONS); do \
	  $(ZB_REF) ablate $$a --profile $(REF_PROFILE) --results-dir $(RESULTS) --seeds $(REF_SEEDS) $(REF_ARGS) || exit 1; done
	$(MAKE) tables RESULTS=$(RESULTS)

# Equal-budget tuning (`zsarbench tune`, seen classes only; the target is never read) of the methods of
# Tables 1 and 4(b) (the methods of Table 1's ordering: ResT_101/34/18 and E2E) on the 0/50 protocols:
# every (method, protocol) gets the same --trials TUNE_TRIALS and --timeout TUNE_TIMEOUT (seconds: no new
# trial starts after it), the same sampler seed and its family's declared search space
# (registry.register_search_space), and writes $(REF_TUNED_DIR)/<method>--<protocol>.toml (--out: the
# repository's protocols/tuned/ by default, where the committed reference overlays are; `zsarbench tune`
# alone writes under the cache, never into the installed package); then
# `make reference REF_TUNED=1` runs them. Each study runs `--until TUNE_TRIALS`: TUNE_TRIALS finished
# trials and TUNE_TIMEOUT seconds are its whole budget, so running this again after an interruption
# finishes each study's budget and never adds to a complete one (the tables' notes state each study's
# actual trials and seconds). TUNE_ARGS goes to each
# command (e.g. TUNE_ARGS="--storage postgresql://..." to share the studies between machines).
# The trials train at TUNE_TRAIN_SEED, a training seed the reference runs (REF_SEEDS) never use, and
# the overlay does not carry it: none of the tuned rows' seeds is the selected trial's model (training
# is deterministic, so retraining the selected seed would give the same model back).
TUNE_METHODS   ?= $(shell $(BIN)/python -c "from zsarbench.paper_tables import PARTS; \
                  print(' '.join(dict.fromkeys(m for o in PARTS['table1'].orderings for m in o.rows)))" 2>/dev/null)
TUNE_PROTOCOLS ?= $(REF_P50)
TUNE_TRIALS    ?= 8
TUNE_TIMEOUT   ?= 3600
TUNE_SEED      ?= 0
TUNE_TRAIN_SEED ?= 100
TUNE_ARGS      ?=
tune-reference: install
	for m in $(TUNE_METHODS); do for p in $(TUNE_PROTOCOLS); do \
	  $(ZB_REF) tune $$m -p $$p --until $(TUNE_TRIALS) --timeout $(TUNE_TIMEOUT) --seed $(TUNE_SEED) \
	    --set recipe.seed=$(TUNE_TRAIN_SEED) --out $(REF_TUNED_DIR)/$$m--$$p.toml --results-dir $(RESULTS) $(TUNE_ARGS) || exit 1; done; done

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
