# zsarbench: `make run` installs and runs the main job; `make test` runs the tests.
PY      ?= python3.11
VENV    ?= .venv
BIN     := $(VENV)/bin
PROTOCOL ?= synth-ucf-0-50
METHOD  ?= rest18

.PHONY: install run test test-fast bench clean

$(BIN)/zsarbench: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch/torchvision are pinned; pip takes them from local wheels where they exist
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/zsarbench

run: install
	$(BIN)/zsarbench run $(METHOD) --protocol $(PROTOCOL)

test: install
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

bench: install
	$(BIN)/python bench/clip_throughput.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
