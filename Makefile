# fakeqemu: `make run` starts a fake VM, `make test` runs the tests. Both set up .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test lint bench fuzz clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m compileall -q fakeqemu
	$(BIN)/python -m fakeqemu.recorded
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/fakeqemu run $(ARGS)

test: $(STAMP)
	$(BIN)/python -m compileall -q fakeqemu
	$(BIN)/python -m fakeqemu.recorded
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check fakeqemu tests tools examples
	$(BIN)/ruff format --check fakeqemu tests tools examples
	$(BIN)/mypy

fuzz: $(STAMP)
	FAKEQEMU_FUZZ=long $(BIN)/python -m pytest tests/fuzz -q $(PYTEST_ARGS)

# bytecode as an installed fakeqemu has it (pip compiles it; an editable install under PYTHONDONTWRITEBYTECODE
# would compile every module at every start of a fakeqemu process, ~100 ms; make test compiles it too), and
# the recorded facts split in parts (fakeqemu/recorded.py: a process reads only the parts it needs)
bench: $(STAMP)
	$(BIN)/python -m compileall -q fakeqemu
	$(BIN)/python -m fakeqemu.recorded
	$(BIN)/python -m tools.bench $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
