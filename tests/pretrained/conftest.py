"""Helpers shared by the pretrained-network tests."""

import shutil

import pytest


@pytest.fixture
def damaged_copy(tmp_path):
    """damaged_copy(src) -> a copy of the weights file `src` in tmp_path with the byte at 1 MiB flipped."""

    def make(src):
        bad = tmp_path / src.name
        shutil.copyfile(src, bad)
        with open(bad, "r+b") as f:
            f.seek(1 << 20)
            byte = f.read(1)
            f.seek(1 << 20)
            f.write(bytes([byte[0] ^ 0xFF]))
        return bad

    return make
