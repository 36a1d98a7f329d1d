"""Files: written atomically, and Git LFS pointers recognized (a clone made without Git LFS holds them in
place of the shipped weights and sample pack)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable

LFS_POINTER = b"version https://git-lfs.github.com/spec/"  # how a Git LFS pointer file begins


def atomic_write(path: str | os.PathLike, write: Callable[[Path], Any]) -> Path:
    """Call write(tmp) on a new temporary file beside `path`, then rename it into place; returns `path`.

    A crash or an interrupt leaves either the old file or the new one, never a partial file. The
    temporary name is unique (tempfile.mkstemp), so writers in other threads or processes never share it,
    and it ends in `path`'s suffix, for writers that go by it (numpy's savez adds ".npz" otherwise).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(handle)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def lfs_pointer_hint(path: str | os.PathLike) -> str:
    """For a file that is a Git LFS pointer, a sentence that says so and how to fetch the real file;
    else "" (also when the file cannot be read)."""
    try:
        with open(path, "rb") as file:
            if file.read(len(LFS_POINTER)) != LFS_POINTER:
                return ""
    except OSError:
        return ""
    return " It is a Git LFS pointer, not the file: run `git lfs install && git lfs pull` in the clone."
