"""The default SmolLM2 is served from a Q8_0 copy of the packaged Q4_1 file, built once per cache."""

from __future__ import annotations

import logging
import shutil

import pytest

from townsquare.errors import BackendError
from townsquare.models.files import requantized_q8, resolve_gguf, smollm2_path

llama_cpp = pytest.importorskip("llama_cpp")

Q8_0 = 7  # llama_ftype LLAMA_FTYPE_MOSTLY_Q8_0
Q4_1 = 3


def file_type(path) -> int:
    llm = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    try:
        return int(llm.metadata["general.file_type"])
    finally:
        llm.close()


def test_smollm2_is_the_q8_copy_and_smollm2_q4_the_packaged_file(smollm2_spec, tmp_path):
    assert smollm2_spec.path.name == "SmolLM2-135M-Instruct.Q4_1.q8_0.gguf"
    assert file_type(smollm2_spec.path) == Q8_0
    original = resolve_gguf("smollm2-q4", tmp_path)
    assert original.path == smollm2_path() and file_type(original.path) == Q4_1


def test_the_copy_is_built_once_and_again_when_the_source_changes(tmp_path):
    source = tmp_path / "model.gguf"
    shutil.copy(smollm2_path(), source)
    first = requantized_q8(source, tmp_path / "cache")
    built = first.stat().st_mtime_ns
    assert requantized_q8(source, tmp_path / "cache").stat().st_mtime_ns == built  # reused
    source.touch()
    assert requantized_q8(source, tmp_path / "cache").stat().st_mtime_ns != built  # rebuilt
    assert not list((tmp_path / "cache").glob(".*.tmp"))  # nothing half-written left behind


def test_the_conversion_prints_nothing(tmp_path, capfd):
    log = logging.getLogger("llama-cpp-python")
    level = log.level
    log.setLevel(logging.NOTSET)  # as in a fresh process, before any model was loaded with verbose=False
    try:
        requantized_q8(smollm2_path(), tmp_path / "cache")
    finally:
        log.setLevel(level)
    assert capfd.readouterr().err == ""


def test_a_file_that_is_not_gguf_is_refused_and_leaves_nothing(tmp_path):
    source = tmp_path / "broken.gguf"
    source.write_bytes(b"not a model")
    with pytest.raises(BackendError, match="could not convert"):
        requantized_q8(source, tmp_path / "cache")
    assert not list((tmp_path / "cache").iterdir())
