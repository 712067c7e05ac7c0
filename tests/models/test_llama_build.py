"""The guard against llama.cpp builds whose AMX kernels crash the process."""

import shutil
import subprocess
import types

import pytest

from townsquare.errors import BackendError
from townsquare.models.llama_cpp_generator import _AMX_SYMBOL, check_build


def _fake_package(tmp_path, symbols: list[str]) -> types.SimpleNamespace:
    """A llama_cpp-shaped folder whose lib/libggml-cpu.so exports ``symbols``, compiled with gcc."""
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc to build a shared library")
    (tmp_path / "lib").mkdir(parents=True)
    source = tmp_path / "lib.c"
    source.write_text("".join(f"void {name}(void) {{}}\n" for name in symbols))
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(tmp_path / "lib" / "libggml-cpu.so"), str(source)], check=True)
    return types.SimpleNamespace(__file__=str(tmp_path / "__init__.py"))


@pytest.fixture
def amx_cpu(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text("flags\t\t: fpu sse avx2 amx_bf16 amx_tile amx_int8\n")
    return path


def test_a_build_with_amx_kernels_is_refused_on_an_amx_cpu(tmp_path, amx_cpu):
    package = _fake_package(tmp_path / "pkg", ["ggml_cpu_has_amx_int8", _AMX_SYMBOL])
    with pytest.raises(BackendError, match="AMX kernels.*make install"):
        check_build(package, cpuinfo=amx_cpu)


def test_a_build_without_amx_kernels_passes(tmp_path, amx_cpu):
    package = _fake_package(tmp_path / "pkg", ["ggml_cpu_has_amx_int8"])
    check_build(package, cpuinfo=amx_cpu)


def test_a_cpu_without_amx_never_refuses(tmp_path):
    package = _fake_package(tmp_path / "pkg", [_AMX_SYMBOL])
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("flags\t\t: fpu sse avx2\n")
    check_build(package, cpuinfo=cpuinfo)


def test_the_installed_build_passes():
    llama_cpp = pytest.importorskip("llama_cpp")
    check_build(llama_cpp)
