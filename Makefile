# relukit: `make test` and `make bench` do all the set-up on a fresh clone (venv, packages, build).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
export VIRTUAL_ENV := $(abspath $(VENV))
export PYO3_PYTHON := $(abspath $(BIN)/python)
CFLAGS_TEST := -std=c11 -ffp-contract=off -O2 -Wall -Wextra -Werror -Wpedantic -Wconversion -Wshadow

# mypy and pyright (basedpyright bundles its own Node, nothing is fetched at run time) for
# tests/test_typing.py; maturin's zig linker and auditwheel for `make wheel`; dask for
# tests/test_dask.py.
TYPING_PACKAGES := "mypy>=1.11" "basedpyright>=1.20" "typing_extensions>=4.7"
WHEEL_PACKAGES  := "ziglang>=0.13" "auditwheel>=6"
DASK_PACKAGES   := "dask[array]>=2023.1" "distributed>=2023.1"

.PHONY: stubs wheel sdist test-wheel venv dev test ctest cbench rtest lint pytest check test-oldest-numpy bench clean

venv: $(BIN)/.installed
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "maturin>=1.9,<2" "cffi>=1.17" "numpy>=1.24" \
		"pytest>=8" "hypothesis>=6.100" "pytest-benchmark>=5" "rich>=13" "ruff>=0.6" \
		"scikit-learn>=1.3" "matplotlib>=3.7" "jsonschema>=4.18" "threadpoolctl>=3" \
		$(TYPING_PACKAGES) $(WHEEL_PACKAGES) $(DASK_PACKAGES)
	touch $@

dev: venv                      ## build both extensions (one wheel) into the venv
	$(BIN)/maturin develop --release --quiet

stubs: venv                    ## rewrite relukit/_functions.pyi from the op table
	PYTHONPATH=python $(BIN)/python -c \
		"from relukit.ops import write_stub; write_stub('python/relukit/_functions.pyi')"

# The C library: the .c files listed in csrc/sources.txt (build.rs reads the same list).
C_SOURCES  := $(addprefix csrc/,$(filter %.c,$(shell sed -e 's/\#.*//' csrc/sources.txt)))
C_INCLUDES := -Icsrc/include -Icsrc/runtime -Icsrc/kernels
C_TESTS    := test_relu_dense test_dense_backward test_piecewise_smooth test_gemm

ctest:                         ## every C test program against the library (csrc/sources.txt), warnings as errors
	mkdir -p build
	set -e; for t in $(C_TESTS); do \
		$(CC) $(CFLAGS_TEST) -pthread $(C_INCLUDES) $(C_SOURCES) csrc/tests/harness.c \
			csrc/tests/$$t.c -o build/$$t -lm; \
		./build/$$t; \
	done

cbench:                        ## build the C benchmark programs (build/bench_kernels, build/bench_threads, build/bench_gemm)
	mkdir -p build
	set -e; for b in bench_kernels bench_threads bench_gemm; do \
		$(CC) $(CFLAGS_TEST) -O3 -pthread $(C_INCLUDES) $(C_SOURCES) csrc/tests/$$b.c \
			-o build/$$b -lm; \
	done

rtest:                         ## Rust kernel crate: no Python needed
	cd rust && cargo test -p relukit-kernels --quiet
	cd rust && cargo test -p relukit-kernels --release --quiet --test overlap   # self-overlapping views: ndarray's debug checks refuse them

lint: venv
	$(BIN)/ruff check python tests benchmarks csrc
	$(BIN)/ruff format --check python tests benchmarks csrc
	cd rust && cargo fmt --all -- --check
	cd rust && cargo clippy --release --all-targets --quiet -- -D warnings

pytest: dev
	$(BIN)/python -m pytest -q

# The hostile-input, overlap, layer-array and fast-path tests, run again on the forced-portable
# path (the differential test runs its own portable part in a subprocess).
PORTABLE_TESTS := tests/test_hostile.py tests/test_out_overlap.py tests/test_layer_params.py \
	tests/test_rust_paths.py tests/test_c_paths.py

check: dev                     ## every backend against the numeric contract, SIMD and portable paths
	$(BIN)/relukit check --strict
	RELUKIT_FORCE_PORTABLE=1 $(BIN)/relukit check --strict
	RELUKIT_FORCE_PORTABLE=1 $(BIN)/python -m pytest -q -p no:cacheprovider $(PORTABLE_TESTS)

# The oldest NumPy pyproject.toml declares (numpy>=1.24: its last patch release), in a venv of
# its own with the test runner only; it imports the in-place build (maturin develop writes the
# extension into python/relukit), so nothing is installed there but NumPy and the test deps.
OLDEST       := .venv-oldest
NUMPY_OLDEST := 1.24.4
OLDEST_TESTS := tests/test_facade.py tests/test_conformance.py tests/test_bad_input.py \
	tests/test_nn.py tests/test_activations.py tests/test_dense.py tests/test_dense_backward.py \
	tests/test_threads.py tests/test_out_overlap.py tests/test_layer_params.py

$(OLDEST)/bin/.installed: pyproject.toml
	$(PYTHON) -m venv $(OLDEST)
	$(OLDEST)/bin/python -m pip install -q --upgrade pip
	$(OLDEST)/bin/python -m pip install -q "numpy==$(NUMPY_OLDEST)" "cffi>=1.17" \
		"pytest>=8" "hypothesis>=6.100"
	touch $@

test-oldest-numpy: dev $(OLDEST)/bin/.installed  ## check + the core tests under the oldest NumPy
	PYTHONPATH=python $(OLDEST)/bin/python -c "import numpy, relukit; \
		assert numpy.__version__ == '$(NUMPY_OLDEST)', numpy.__version__; \
		assert relukit.__file__.startswith('$(abspath python)'), relukit.__file__"
	PYTHONPATH=python $(OLDEST)/bin/python -m relukit check --strict
	PYTHONPATH=python RELUKIT_FORCE_PORTABLE=1 $(OLDEST)/bin/python -m relukit check --strict
	PYTHONPATH=python $(OLDEST)/bin/python -m pytest -q -p no:cacheprovider $(OLDEST_TESTS)

# The wheel users install: manylinux2014 (glibc >= 2.17), linked by zig (the ziglang package),
# stripped; auditwheel shows the tag it earns. The sdist carries the C and Rust sources.
DIST  := dist
WHEEL_ENV := PATH="$(abspath $(BIN)):$$PATH"

wheel: venv                    ## dist/relukit-*-manylinux2014 wheel (+ auditwheel's verdict)
	rm -f $(DIST)/relukit-*.whl
	$(WHEEL_ENV) $(BIN)/maturin build --release --strip --zig --compatibility manylinux2014 \
		-i $(BIN)/python --out $(DIST) --quiet
	$(BIN)/auditwheel show $(DIST)/relukit-*.whl
	$(BIN)/python -c "import sys, zipfile; \
		names = zipfile.ZipFile(sys.argv[1]).namelist(); \
		need = ('LICENSE', 'relukit/py.typed', 'relukit/_native.pyi', 'relukit/_functions.pyi'); \
		missing = [n for n in need if not any(x.endswith(n) for x in names)]; \
		sys.exit(f'wheel lacks {missing}' if missing else 0)" $(DIST)/relukit-*.whl

sdist: venv                    ## dist/relukit-*.tar.gz (sources, LICENSE)
	rm -f $(DIST)/relukit-*.tar.gz
	$(BIN)/maturin sdist --out $(DIST)
	tar -tzf $(DIST)/relukit-*.tar.gz | grep -q '/LICENSE$$'

# The installed wheel, in fresh virtualenvs outside the source tree: the whole test suite and
# relukit check, then check and the core tests under the oldest NumPy declared. pytest runs
# from the venv's folder with the tests given by path, so `import relukit` finds the wheel.
WHEEL_VENVS := $(shell mktemp -u -d "$${TMPDIR:-/tmp}/relukit-wheel.XXXXXX")
WV := $(WHEEL_VENVS)/latest
WO := $(WHEEL_VENVS)/oldest
PYTEST_WHEEL := -q -p no:cacheprovider --rootdir=$(abspath .) -c $(abspath pyproject.toml)
ASSERT_INSTALLED = "import relukit, sys; assert relukit.__file__.startswith(sys.prefix), \
	relukit.__file__; print('relukit', relukit.__version__, 'from', relukit.__file__)"

test-wheel: wheel              ## the test suite + relukit check against the installed wheel
	$(PYTHON) -m venv $(WV)
	$(WV)/bin/python -m pip install -q --upgrade pip
	$(WV)/bin/python -m pip install -q "$$(ls $(DIST)/relukit-*.whl)[test]"
	cd $(WV) && bin/python -c $(ASSERT_INSTALLED)
	cd $(WV) && bin/relukit --version
	cd $(WV) && bin/relukit check --strict
	cd $(WV) && RELUKIT_FORCE_PORTABLE=1 bin/relukit check --strict
	cd $(WV) && bin/python -m pytest $(PYTEST_WHEEL) $(abspath tests)
	cd $(WV) && RELUKIT_FORCE_PORTABLE=1 bin/python -m pytest $(PYTEST_WHEEL) \
		$(addprefix $(abspath .)/,$(PORTABLE_TESTS))
	$(PYTHON) -m venv $(WO)
	$(WO)/bin/python -m pip install -q --upgrade pip
	$(WO)/bin/python -m pip install -q "numpy==$(NUMPY_OLDEST)" "cffi>=1.17" "pytest>=8" \
		"hypothesis>=6.100" "$$(ls $(DIST)/relukit-*.whl)"
	cd $(WO) && bin/python -c $(ASSERT_INSTALLED)
	cd $(WO) && bin/python -c "import numpy; assert numpy.__version__ == '$(NUMPY_OLDEST)'"
	cd $(WO) && bin/relukit check --strict
	cd $(WO) && RELUKIT_FORCE_PORTABLE=1 bin/relukit check --strict
	cd $(WO) && bin/python -m pytest $(PYTEST_WHEEL) $(addprefix $(abspath .)/,$(OLDEST_TESTS))
	rm -rf $(WHEEL_VENVS)

# C and Rust tests, lint, then everything else against the installed wheel (both NumPys).
test: ctest rtest lint test-wheel

bench: dev                     ## relukit bench: the full sweep, + build/bench.json, build/bench.png
	mkdir -p build
	$(BIN)/relukit bench --json build/bench.json --plot build/bench.png

clean:
	rm -rf $(VENV) $(OLDEST) $(DIST) build rust/target .pytest_cache .benchmarks
