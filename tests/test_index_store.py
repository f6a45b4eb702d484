"""The project index's own cache entry (leaflint/index/store.py): files whose stat signature is
unchanged are not read again, and every way a file can change without its signature being
trusted is still caught (no timing assertions)."""

from __future__ import annotations

import json
import os
import textwrap
import time
from pathlib import Path

import pytest

from leaflint.cache import Cache
from leaflint.checking import lint_groups_indexed
from leaflint.files import Discovery
from leaflint.index import run as run_mod
from leaflint.index import store as store_mod
from leaflint.rules import select_codes

MODELS = """\
import torch
import torch.nn as nn


class MF(nn.Module):
    def __init__(self, n, k):
        super().__init__()
        self.U = nn.Parameter(torch.randn(n, k))
"""
# the same size, and U no longer requires grad: what train.py may report changes
FROZEN = MODELS.replace("nn.Parameter(torch.randn(n, k))", f"{'torch.randn(n, k)':<31}")
TRAIN = """\
import torch

from .models import MF


def step():
    model = MF(4, 2)
    model.U[0] = 1.0
"""
UNRELATED = """\
import torch

x = torch.zeros(3)
"""
FINDING = ("train.py", 8, "LL103")


def write(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text("")
    for name, text in {"pkg/__init__.py": "", "pkg/models.py": MODELS, "pkg/train.py": TRAIN,
                       "pkg/other.py": UNRELATED}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def check(root: Path, cache_dir: Path, paths=None) -> tuple[set, Cache]:
    store = Cache(str(cache_dir))
    codes = select_codes(None, (), ())
    paths = list(Discovery().discover([str(p) for p in paths])) if paths else [root / "pkg/train.py"]
    results = lint_groups_indexed([(codes, [str(p) for p in paths])], jobs=1, cache=store, index_root=str(root))
    assert not any(r.internal_error for r in results)
    return {(os.path.basename(f.filename), f.location.row, f.code) for r in results for f in r.findings}, store


def on_record(root: Path, cache_dir: Path, rel: str) -> bool:
    return store_mod.IndexStore(Cache(str(cache_dir)), str(root)).recorded(rel)


@pytest.fixture()
def reads(monkeypatch):
    """The files the index reads (rather than trusting its entry)."""
    seen: list[str] = []
    real = run_mod.read_bytes

    def counting(path):
        seen.append(os.path.basename(path))
        return real(path)

    monkeypatch.setattr(run_mod, "read_bytes", counting)
    return seen


@pytest.fixture()
def later(monkeypatch):
    """Runs that begin well after the files were written (so their signatures are trusted)."""
    monkeypatch.setattr(store_mod, "_now", lambda: time.time_ns() + 60 * 10**9)


def rewrite_keeping_size_and_mtime(path: Path, text: str) -> None:
    """Rewrite ``path`` with ``text`` (the same length) and set its mtime back to what it was,
    until its ctime has moved (the kernel's clock may not have ticked since the last write)."""
    before = os.stat(path)
    assert len(text.encode()) == before.st_size
    for _ in range(10_000):
        path.write_text(text)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        if os.stat(path).st_ctime_ns != before.st_ctime_ns:
            break
        time.sleep(0.001)
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert after.st_ctime_ns != before.st_ctime_ns


def test_unchanged_files_are_not_read_again(tmp_path, reads, later):
    root = write(tmp_path / "p")
    found, _ = check(root, tmp_path / "c")
    assert FINDING in found
    assert sorted(reads) == ["models.py", "train.py"]
    reads.clear()
    found, store = check(root, tmp_path / "c")
    assert FINDING in found and store.misses == 0
    assert reads == []  # every signature on record: nothing read, nothing parsed
    # an edit that changes the size is read (and only that file), and what it says is followed
    (root / "pkg/models.py").write_text(MODELS.replace("torch.randn(n, k))", "torch.randn(n, k), requires_grad=False)"))
    reads.clear()
    found, _ = check(root, tmp_path / "c")
    assert reads == ["models.py"]
    assert FINDING not in found


def test_a_rewrite_with_the_same_size_and_mtime_is_caught(tmp_path, later):
    root = write(tmp_path / "p")
    assert FINDING in check(root, tmp_path / "c")[0]
    assert on_record(root, tmp_path / "c", "pkg/models.py")
    rewrite_keeping_size_and_mtime(root / "pkg/models.py", FROZEN)
    assert FINDING not in check(root, tmp_path / "c")[0]  # the ctime moved: read again


def test_a_file_replaced_by_a_rename_is_caught(tmp_path, later):
    root = write(tmp_path / "p")
    assert FINDING in check(root, tmp_path / "c")[0]
    models = root / "pkg/models.py"
    before = os.stat(models)
    fresh = root / "pkg/models.py.new"
    fresh.write_text(FROZEN)
    os.utime(fresh, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(fresh, models)
    assert FINDING not in check(root, tmp_path / "c")[0]


def test_files_younger_than_the_racy_margin_are_not_trusted(tmp_path, reads):
    """Without ``later``: the files were just written, so the run began within RACY_NS of their
    mtime; a rewrite in the same tick with the same size and mtime (which a signature cannot
    see) must still be caught, so they are not recorded and are read again."""
    root = write(tmp_path / "p")
    assert FINDING in check(root, tmp_path / "c")[0]
    assert not on_record(root, tmp_path / "c", "pkg/models.py")
    models = root / "pkg/models.py"
    before = os.stat(models)
    models.write_text(FROZEN)
    os.utime(models, ns=(before.st_atime_ns, before.st_mtime_ns))
    reads.clear()
    assert FINDING not in check(root, tmp_path / "c")[0]
    assert "models.py" in reads


def test_a_one_file_run_reads_only_what_its_imports_reach(tmp_path, reads, later):
    root = write(tmp_path / "p")
    check(root, tmp_path / "c", [root])  # the whole project
    (root / "pkg/train.py").write_text(TRAIN + "# edited\n")
    reads.clear()
    found, store = check(root, tmp_path / "c")
    assert FINDING in found
    assert reads == ["train.py"]  # models.py from the index's entry
    assert store.misses == 1  # train.py's own entry; models.py's summary came from the index's entry


@pytest.mark.parametrize("garbage", [b"", b"{", b"\xff\xfe", b"[]", b'{"root": 1}',
                                     b'{"root": "R", "files": {"pkg/models.py": [1, 2]}, "summaries": []}'])
def test_a_corrupt_index_entry_is_ignored(tmp_path, later, garbage):
    root = write(tmp_path / "p")
    check(root, tmp_path / "c", [root])
    [entry] = list((tmp_path / "c" / "index").glob("*.idx"))
    entry.write_bytes(garbage.replace(b"R", str(root).encode()))
    rewrite_keeping_size_and_mtime(root / "pkg/models.py", FROZEN)
    assert FINDING not in check(root, tmp_path / "c")[0]
    assert FINDING not in check(root, tmp_path / "c")[0]


def test_a_corrupt_record_of_one_file_is_read_again(tmp_path, later):
    root = write(tmp_path / "p")
    check(root, tmp_path / "c", [root])
    [entry] = list((tmp_path / "c" / "index").glob("*.idx"))
    data = json.loads(entry.read_text())
    sig, _, may_hold, _ = data["files"]["pkg/models.py"]
    data["files"]["pkg/models.py"] = [sig, "0" * 40, may_hold, [[0, "torch", "not a list"]]]
    entry.write_text(json.dumps(data))
    assert FINDING in check(root, tmp_path / "c")[0]


def test_a_file_changed_while_it_is_parsed_keeps_no_summary_under_its_old_digest(tmp_path, later, monkeypatch):
    """models.py is recorded, then changes between the index's look at it and its parse: the
    summary of what was parsed must not be kept under the recorded digest (a later return to the
    recorded content would read the other content's summary)."""
    root = write(tmp_path / "p")
    check(root, tmp_path / "c", [root])
    models = root / "pkg/models.py"
    (root / "pkg/models.py").write_text(MODELS + "# recorded\n")
    monkeypatch.setattr(store_mod, "_now", lambda: time.time_ns() + 120 * 10**9)
    check(root, tmp_path / "c")  # models.py recorded with its new content
    assert on_record(root, tmp_path / "c", "pkg/models.py")
    real = run_mod.engine.parse_all

    def change_first(items, *args, **kwargs):
        if any(path.endswith("models.py") for path, _, _ in items):
            models.write_text(FROZEN + "# changed while parsed\n")
        return real(items, *args, **kwargs)

    (root / "pkg/train.py").write_text(TRAIN + "# edited\n")
    for entry in (tmp_path / "c").glob("??/*.json"):  # no per-file entry and no summary on
        entry.unlink()  # record: models.py is parsed
    [index] = list((tmp_path / "c" / "index").glob("*.idx"))
    data = json.loads(index.read_text())
    del data["summaries"]["pkg/models.py"]
    index.write_text(json.dumps(data))
    monkeypatch.setattr(run_mod.engine, "parse_all", change_first)
    check(root, tmp_path / "c")
    monkeypatch.setattr(run_mod.engine, "parse_all", real)
    models.write_text(MODELS + "# recorded\n")  # back to the recorded content
    assert FINDING in check(root, tmp_path / "c")[0]
