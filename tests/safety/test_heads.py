"""Head files: a damaged one is named with what to do, and a save never leaves a damaged one."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from townsquare.errors import ConfigError
from townsquare.safety.heads import LinearHead


def head(labels=("no", "yes")) -> LinearHead:
    return LinearHead(list(labels), np.ones((4, 2), np.float32), np.zeros(2, np.float32), meta={"name": "tone"})


def test_a_damaged_head_file_is_named_with_what_to_do(tmp_path):
    """An empty file printed only "Aborted." (an EOFError), garbage or a zip without the head's arrays a
    numpy traceback that named no file."""
    path = tmp_path / "tone.npz"
    for damage in (b"", b"garbage\n"):
        path.write_bytes(damage)
        with pytest.raises(ConfigError, match=r"classifier head .*tone\.npz is damaged or not a head file .*; train "
                                              r"it again \(`townsquare train classifier tone --data FILE`\) or remove"):
            LinearHead.load(path)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("other.npy", b"abc")
    with pytest.raises(ConfigError, match="tone.npz is damaged"):
        LinearHead.load(path)


class _Unwritable:
    """An array numpy cannot write: it fails half way through the file."""

    def astype(self, _dtype):
        return self

    def __array__(self, *args, **kwargs):
        raise RuntimeError("the disk is full")


def test_a_save_that_fails_half_way_leaves_the_head_that_was_there(tmp_path):
    path = head().save(tmp_path / "tone.npz")
    broken = head(("a", "b"))
    broken.seen = _Unwritable()
    with pytest.raises(RuntimeError, match="the disk is full"):
        broken.save(path)
    assert LinearHead.load(path).labels == ["no", "yes"]
    assert [p.name for p in tmp_path.iterdir()] == ["tone.npz"]  # no temporary file left beside it
    assert head(("a", "b")).save(path) == path and LinearHead.load(path).labels == ["a", "b"]
