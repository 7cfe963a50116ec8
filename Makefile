# cllm: the two entry points are `make run` and `make test`.
# Each target first installs what it needs and no more: system packages through apt-get
# (only those not installed yet) and, in the virtualenv .venv, the cllm package with the
# extras of that target. A stamp file per target records what was installed, so each
# target installs once (again when pyproject.toml changes).
#   make run     the package only (QEMU boots the kernel; no PyTorch)
#   make test    the test and train extras (the training tests need PyTorch), Bible text
#   make train   the train extra and the Bible text it trains on
#   make lint    the lint extra (pinned ruff, mypy, clang-format)
# `make test` runs the whole pytest suite and fails when any test fails.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# qemu-system-x86 provides qemu-system-i386; grub/xorriso/mtools make ISOs; gcc builds
# the host unit tests of the portable kernel C (with ASan/UBSan); clang builds the libFuzzer
# targets (tests/fuzzing.py).
APT_PACKAGES := python3 python3-venv python3-pip qemu-system-x86 grub-pc-bin grub-efi-amd64-bin \
                grub-efi-ia32-bin grub-common xorriso mtools ovmf gcc libc6-dev clang haproxy iproute2 curl
# The training corpus (bible-kjv prints it): `make train` and the tests of training only.
APT_TRAIN    := bible-kjv bible-kjv-text
# The browser of the chat page's test (with selenium from the test extra): `make test` only.
APT_TEST     := chromium chromium-driver
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=
# `make run PORT=9000 MODEL=path/to/model.gguf ARGS='--accel tcg'`
PORT  ?=
MODEL ?=
ARGS  ?=
RUN_ARGS := $(if $(PORT),--port $(PORT)) $(if $(MODEL),--model $(MODEL)) $(ARGS)
# The C sources `make lint` checks against .clang-format (checked only, never rewritten).
LINT_C = $(shell find kernel tests/host tests/fuzz -name '*.[ch]' | sort)

.PHONY: all setup system-deps system-deps-train system-deps-test run build test lint bench fuzz soak train clean

all: build

# $(call apt_install,PACKAGES): install those of PACKAGES that are missing.
define apt_install
	@if ! command -v dpkg-query >/dev/null 2>&1; then \
	    echo "not a Debian system: install by hand: $(1)"; exit 0; \
	fi; \
	missing=""; \
	for p in $(1); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "installing system packages:$$missing"; \
	    $(SUDO) apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

system-deps:
	$(call apt_install,$(APT_PACKAGES))

system-deps-train:
	$(call apt_install,$(APT_TRAIN))

system-deps-test:
	$(call apt_install,$(APT_TEST))

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

# One stamp per set of extras; pip shows its progress (PyTorch alone is large).
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[test,train]'
	touch $@

$(VENV)/.installed-train: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[train]'
	touch $@

$(VENV)/.installed-lint: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[lint]'
	touch $@

setup: system-deps $(VENV)/.installed-run

build: setup
	$(BIN)/cllm build

run: build
	$(BIN)/cllm run $(RUN_ARGS)

test: system-deps system-deps-train system-deps-test $(VENV)/.installed-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# ruff and mypy over the Python; clang-format in dry-run mode over the kernel's C and the
# host tests' C (any line that .clang-format would change fails).
lint: $(VENV)/.installed-lint
	$(BIN)/ruff check cllm_build tests bench train
	$(BIN)/mypy cllm_build
	$(BIN)/clang-format --dry-run --Werror $(LINT_C)

# Coverage-guided fuzzing: every libFuzzer target for FUZZ_SECONDS each (make test runs a
# short fixed number of executions of each). FUZZ_TARGETS picks some (default: all).
FUZZ_SECONDS ?= 300
FUZZ_TARGETS ?=
fuzz: system-deps $(VENV)/.installed-test
	$(BIN)/python tests/fuzzing.py --seconds $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# The soak test for an hour (make test runs its 2-minute form).
SOAK_SECONDS ?= 3600
soak: system-deps $(VENV)/.installed-test
	CLLM_SOAK_SECONDS=$(SOAK_SECONDS) $(BIN)/python -m pytest tests/test_soak.py -s

bench: setup
	$(BIN)/python bench/build_bench.py

# The default model (models/default.gguf): ~20 min on 2 cores, niced; see train/README.md.
# bible-kjv prints the training corpus; torch (the train extra) trains it.
TRAIN_OUT ?= models
train: system-deps system-deps-train $(VENV)/.installed-train
	nice -n 10 $(BIN)/python train/train.py --out $(TRAIN_OUT)

clean:
	rm -rf build
