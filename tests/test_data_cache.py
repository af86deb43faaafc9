"""The preprocessing cache, streaming batches and the data root (issue 17, items 3 and 4).

The fixtures are SHD files in the distributed HDF5 layout (the builders of
``test_datasets_audio``); the cache goes to a folder of each test's own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from helpers import run_cli
from test_datasets_audio import random_samples, shd_fixture, write_h5, write_spec

from snnspec._errors import InputError
from snnspec.spec.load import load
from snnspec.training import cache, datasets
from snnspec.training.batches import Prefetch
from snnspec.training.data import DATA_ROOT_ENV, load_data

SHD = "{type: shd, root: shd, max_duration: 1.0, channels: 16, validation_fraction: 0.25}"


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache folder of the test's own (``SNNSPEC_CACHE_DIR``), no data root."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(cache.CACHE_ENV, str(folder))
    monkeypatch.setenv(DATA_ROOT_ENV, "")  # restored after a command sets it
    return folder


@pytest.fixture
def binned(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files the SHD reader bins, one entry per call."""
    calls: list[str] = []
    read = datasets.read_file

    def counting(h5py: object, path: Path, *args: object, **kwargs: object) -> object:
        calls.append(path.name)
        return read(h5py, path, *args, **kwargs)  # pyright: ignore[reportArgumentType]

    monkeypatch.setattr(datasets, "read_file", counting)
    return calls


def entries(folder: Path) -> list[str]:
    """Everything in the cache folder but the index of file digests."""
    return sorted(p.name for p in folder.iterdir() if p.name != cache.INDEX)


# --- the cache --------------------------------------------------------------------------


def test_a_second_run_reads_the_cache_and_records_the_same_data(
    tmp_path: Path, cache_dir: Path, binned: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    shd_fixture(tmp_path / "shd")
    spec = write_spec(tmp_path, SHD)
    code, _, err = run_cli("train", spec, "-o", tmp_path / "cold", "--no-progress", capsys=capsys)
    assert (code, err) == (0, "")
    assert binned == ["shd_train.h5", "shd_test.h5"]
    code, _, err = run_cli("train", spec, "-o", tmp_path / "warm", "--no-progress", capsys=capsys)
    assert (code, err) == (0, "")
    assert binned == ["shd_train.h5", "shd_test.h5"]  # no re-binning
    cold, warm = (
        json.loads((tmp_path / r / "manifest.json").read_text()) for r in ("cold", "warm")
    )
    assert cold["data"] == warm["data"]
    assert cold["data_sha256"] == warm["data_sha256"]
    [key] = entries(cache_dir)
    assert cold["data"]["cache"]["key"] == key
    entry = json.loads((cache_dir / key / cache.ENTRY).read_text())
    assert cold["data"]["cache"]["sha256"] == {
        name: record["sha256"] for name, record in entry["arrays"].items()
    }
    for run in ("cold", "warm"):
        assert (tmp_path / run / "split.json").read_bytes() == (
            tmp_path / "cold" / "split.json"
        ).read_bytes()
    lines = (tmp_path / "warm" / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert all(r["data_load_time"] >= 0 and r["data_wait_time"] >= 0 for r in records)


def test_the_cached_arrays_are_the_binned_arrays_memory_mapped(
    tmp_path: Path, cache_dir: Path, binned: list[str]
) -> None:
    shd_fixture(tmp_path / "shd")
    spec = load(write_spec(tmp_path, SHD))
    cold = load_data(spec)
    warm = load_data(spec)
    assert len(binned) == 2
    train, _ = datasets.event_source(spec, spec.train.data, 10, tmp_path).bin(  # pyright: ignore
        "train", lambda shape: np.zeros(shape, np.float32)
    )
    for data in (cold, warm):
        assert isinstance(data.x_test, np.memmap)
        assert not data.x_test.flags.writeable
        np.testing.assert_array_equal(np.asarray(data.x_train), train[data.indices["train"]])
        np.testing.assert_array_equal(np.asarray(data.x_val), train[data.indices["val"]])
    assert cold.sha256 == warm.sha256
    assert cold.digests == warm.digests


def test_an_entry_is_hashed_once_per_process_until_a_file_changes(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`snnspec data` reports the entry, then reads it: one sha256 pass, not two."""
    shd_fixture(tmp_path / "shd")
    spec = load(write_spec(tmp_path, SHD))
    load_data(spec)  # builds the entry
    [key] = entries(cache_dir)
    hashed: list[str] = []
    digest = cache.sha256_file

    def counting(path: Path) -> str:
        hashed.append(Path(path).name)
        return digest(path)

    monkeypatch.setattr(cache, "sha256_file", counting)
    arrays = sorted(f.name for f in (cache_dir / key).glob("*.npy"))
    source = datasets.event_source(spec, spec.train.data, 10, tmp_path)  # pyright: ignore
    assert cache.status(source)[0] == "hit"
    load_data(spec)
    assert sorted(hashed) == arrays
    hashed.clear()
    changed = cache_dir / key / "test_y.npy"
    stat = changed.stat()
    os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    load_data(spec)
    assert sorted(hashed) == arrays


def _truncate(entry: Path) -> None:
    path = entry / "train_x.npy"
    path.write_bytes(path.read_bytes()[:-7])


def _extend(entry: Path) -> None:
    with (entry / "test_y.npy").open("ab") as handle:
        handle.write(b"\0" * 4)


def _flip(entry: Path) -> None:
    path = entry / "train_x.npy"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x40
    path.write_bytes(bytes(data))


def _no_metadata(entry: Path) -> None:
    (entry / cache.ENTRY).unlink()


def _no_array(entry: Path) -> None:
    (entry / "test_x.npy").unlink()


def _wrong_shape(entry: Path) -> None:
    metadata = json.loads((entry / cache.ENTRY).read_text())
    metadata["arrays"]["train_x"]["shape"][0] += 1
    (entry / cache.ENTRY).write_text(json.dumps(metadata))


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (_truncate, "train_x.npy has 7801 bytes, expected 7808 (truncated or extended)"),
        (_extend, "test_y.npy has 152 bytes, expected 148 (truncated or extended)"),
        (_flip, "train_x.npy does not match its recorded sha256 (changed since it was written)"),
        (_no_metadata, "no entry.json (an interrupted build)"),
        (_no_array, "test_x.npy is missing"),
        (
            _wrong_shape,
            "train_x.npy holds float32 [12, 10, 16], the entry records float32 [13, 10, 16]",
        ),
    ],
)
def test_a_damaged_entry_is_rebuilt_with_a_one_line_notice(
    tmp_path: Path,
    cache_dir: Path,
    binned: list[str],
    capsys: pytest.CaptureFixture[str],
    damage: object,
    problem: str,
) -> None:
    shd_fixture(tmp_path / "shd")
    spec = load(write_spec(tmp_path, SHD))
    first = load_data(spec)
    binned_before = np.array(first.x_train)
    [key] = entries(cache_dir)
    damage(cache_dir / key)  # pyright: ignore[reportCallIssue]
    capsys.readouterr()
    again = load_data(spec)
    err = capsys.readouterr().err
    assert err == f"note: rebuilding the cache entry {cache_dir / key}: {problem}\n"
    assert len(binned) == 4
    assert again.sha256 == first.sha256
    np.testing.assert_array_equal(np.asarray(again.x_train), binned_before)
    assert entries(cache_dir) == [key]
    load_data(spec)
    assert (capsys.readouterr().err, len(binned)) == ("", 4)


def test_hostile_data_leave_nothing_cached(
    tmp_path: Path, cache_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    samples = random_samples(6, 1)
    write_h5(tmp_path / "shd" / "shd_train.h5", samples, [0, 1, 2, 20, 4, 5])
    write_h5(tmp_path / "shd" / "shd_test.h5", samples, [0] * 6)
    spec = write_spec(tmp_path, SHD)
    code, _, err = run_cli("train", spec, "-o", tmp_path / "run", capsys=capsys)
    assert code == 1
    assert "labels[3]: label 20 is outside [0, 20)" in err
    assert entries(cache_dir) == []
    # the test file is hostile: the train split, already binned, is not kept either
    write_h5(tmp_path / "shd" / "shd_train.h5", samples, [0] * 6)
    write_h5(tmp_path / "shd" / "shd_test.h5", samples, [0, 0, 0, 0, 0, 99])
    with pytest.raises(InputError, match=r"labels\[5\]"):
        load_data(load(spec))
    assert entries(cache_dir) == []


def test_two_runs_building_one_entry_at_once_share_it(tmp_path: Path, cache_dir: Path) -> None:
    """Both build (neither sees an entry); the first rename wins, the second uses it."""
    (tmp_path / "source.bin").write_bytes(b"events")
    started = threading.Barrier(2)

    def bin_split(split: str, allocate: cache.Allocate) -> tuple[np.ndarray, np.ndarray]:
        started.wait(timeout=10)
        x = allocate((3, 2, 4))
        x[:] = np.arange(24).reshape(3, 2, 4)
        return x, np.array([0, 1, 0], np.int32)

    source = cache.EventSource(
        files=(tmp_path / "source.bin",),
        base=tmp_path,
        section={"type": "test", "steps": 2},
        origins={"train": tmp_path / "source.bin"},
        classes=2,
        bin=bin_split,
    )
    opened: list[cache.Entry] = []
    threads = [
        threading.Thread(target=lambda: opened.append(cache.open_entry(source))) for _ in "ab"
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(opened) == 2
    key = opened[0].key
    assert entries(cache_dir) == [key]
    assert cache.status(source) == ("hit", cache_dir / key, "")
    for entry in opened:
        np.testing.assert_array_equal(entry.arrays["train_x"], np.arange(24).reshape(3, 2, 4))


# --- where the cache is ------------------------------------------------------------------


def test_the_cache_folder_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(cache.CACHE_ENV)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache.cache_folder() == tmp_path / "home" / ".cache" / "snnspec"
    monkeypatch.setenv("XDG_CACHE_HOME", "")  # empty: unset
    assert cache.cache_folder() == tmp_path / "home" / ".cache" / "snnspec"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_folder() == tmp_path / "xdg" / "snnspec"
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "mine"))
    assert cache.cache_folder() == tmp_path / "mine"
    monkeypatch.setenv(cache.CACHE_ENV, "relative/cache")
    with pytest.raises(InputError, match=r"^SNNSPEC_CACHE_DIR=relative/cache is a relative path"):
        cache.cache_folder()
    (tmp_path / "file").write_text("")
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "file"))
    with pytest.raises(InputError, match=r"is not a folder; name a folder for the cache$"):
        cache.cache_folder()


def test_xdg_cache_home_is_where_a_run_caches(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(cache.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    shd_fixture(tmp_path / "shd")
    data = load_data(load(write_spec(tmp_path, SHD)))
    assert data.cache is not None
    assert (tmp_path / "xdg" / "snnspec" / data.cache["key"] / cache.ENTRY).is_file()


def test_snnspec_data_reports_the_cache(
    tmp_path: Path, cache_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shd_fixture(tmp_path / "shd")
    spec = write_spec(tmp_path, SHD)
    code, out, _ = run_cli("data", spec, capsys=capsys)
    [key] = entries(cache_dir)
    assert code == 0
    assert f"  cache: missing (binned now) {cache_dir / key}\n" in out
    code, out, _ = run_cli("data", spec, capsys=capsys)
    assert f"  cache: hit {cache_dir / key}\n" in out
    _truncate(cache_dir / key)
    code, out, err = run_cli("data", spec, capsys=capsys)
    problem = "train_x.npy has 7801 bytes, expected 7808 (truncated or extended)"
    assert f"  cache: corrupt (rebuilt): {problem} {cache_dir / key}\n" in out
    assert err.startswith("note: rebuilding the cache entry")
    (tmp_path / "s").mkdir(exist_ok=True)
    synthetic = write_spec(tmp_path / "s", "{type: synthetic, num_samples: 8}", channels=16)
    code, out, _ = run_cli("data", synthetic, capsys=capsys)
    assert (code, "cache:" in out) == (0, False)


# --- the data root -----------------------------------------------------------------------


def test_the_data_root_flag_and_variable(
    tmp_path: Path,
    cache_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    shd_fixture(tmp_path / "shared" / "shd")
    (tmp_path / "empty").mkdir()
    (tmp_path / "project").mkdir()
    spec = write_spec(tmp_path / "project", SHD)
    code, _, err = run_cli("data", spec, capsys=capsys)
    assert code == 1
    assert "shd_train.h5 not found in" in err
    code, out, _ = run_cli("data", spec, "--data-root", tmp_path / "shared", capsys=capsys)
    assert code == 0
    assert f"source: shd ({tmp_path}/shared/shd/shd_train.h5" in out
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path / "shared"))
    assert run_cli("data", spec, capsys=capsys)[0] == 0
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path / "empty"))  # the flag beats the variable
    assert run_cli("data", spec, "--data-root", tmp_path / "shared", capsys=capsys)[0] == 0
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path / "missing"))
    code, _, err = run_cli("data", spec, capsys=capsys)
    assert code == 1
    assert f"SNNSPEC_DATA_ROOT={tmp_path / 'missing'}: no such folder" in err
    monkeypatch.setenv(DATA_ROOT_ENV, "")
    code, _, err = run_cli("data", spec, "--data-root", tmp_path / "missing", capsys=capsys)
    assert code == 2
    assert "--data-root" in err
    (tmp_path / "s").mkdir(exist_ok=True)
    synthetic = write_spec(tmp_path / "s", "{type: synthetic, num_samples: 8}", channels=16)
    code, _, err = run_cli("data", synthetic, "--data-root", tmp_path / "shared", capsys=capsys)
    assert code == 2
    message = "applies to data sources with a `root:` folder; this spec's data are synthetic"
    assert message in " ".join(err.replace("│", " ").split())


@pytest.mark.parametrize(
    "command",
    [
        ["train", "spec.yaml"],
        ["evaluate", "run"],
        ["reproduce", "run"],
        ["sweep", "spec.yaml", "-o", "out"],
        ["data", "spec.yaml"],
        ["view", "run", "-o", "page.html"],
    ],
)
def test_every_data_command_refuses_a_missing_data_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    missing = tmp_path / "missing"
    code, _, err = run_cli(*command, "--data-root", missing, capsys=capsys)
    assert code == 2
    assert "--data-root" in err
    assert not missing.exists()


def test_train_evaluate_and_view_take_the_data_root(
    tmp_path: Path, cache_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shd_fixture(tmp_path / "shared" / "shd")
    (tmp_path / "project").mkdir()
    spec = write_spec(tmp_path / "project", SHD)
    run = tmp_path / "run"
    root = ("--data-root", tmp_path / "shared")
    code, _, err = run_cli("train", spec, "-o", run, "--no-progress", *root, capsys=capsys)
    assert (code, err) == (0, "")
    assert json.loads((run / "split.json").read_text())["test_file"] == "shd/shd_test.h5"
    os.environ[DATA_ROOT_ENV] = ""  # as a new process: the flag applies to one command
    code, _, err = run_cli("evaluate", run, capsys=capsys)
    assert code == 1
    assert "shd_train.h5 not found in" in err
    code, out, _ = run_cli("evaluate", run, *root, capsys=capsys)
    assert code == 0
    assert "reproduces the reported test accuracy" in out
    page = tmp_path / "page.html"
    os.environ[DATA_ROOT_ENV] = ""
    code, _, err = run_cli("view", run, "-o", page, capsys=capsys)
    assert code == 1
    assert "shd_train.h5 not found in" in err
    assert run_cli("view", run, "-o", page, *root, capsys=capsys)[0] == 0
    code, _, err = run_cli("view", spec, "-o", page, "--force", *root, capsys=capsys)
    assert code == 2  # a spec's page reads no data: the flag cannot apply
    assert "applies to a training run folder" in " ".join(err.replace("│", " ").split())


# --- streaming ----------------------------------------------------------------------------


def test_prefetch_gives_every_batch_in_order_and_raises_errors() -> None:
    x = np.arange(40.0).reshape(10, 4)
    batches = [np.array([3, 1]), np.array([0, 9]), np.array([5, 5])]
    with Prefetch(lambda i: (x[i], i), batches) as loader:
        got = list(loader)
    assert [b[1].tolist() for b in got] == [[3, 1], [0, 9], [5, 5]]
    np.testing.assert_array_equal(got[2][0], x[[5, 5]])

    def take(index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if index[0] == 0:
            raise InputError("broken batch")
        return x[index], index

    with pytest.raises(InputError, match="broken batch"), Prefetch(take, batches) as loader:
        list(loader)
    with Prefetch(lambda i: (x[i], i), batches * 50, depth=1) as loader:
        next(iter(loader))  # leaving early stops the thread
    assert not loader._thread.is_alive()


STREAM = """\
import os, sys, threading, time
from pathlib import Path

import numpy as np

sys.path.insert(0, {tests!r})
from test_datasets_audio import write_h5

folder, count = Path(sys.argv[1]), int(sys.argv[2])


def rss_anon():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024


rng = np.random.default_rng(0)
for name, n in (("small", 64), ("large", count)):
    samples = [(np.sort(rng.uniform(0, 1, 20)).astype(np.float16),
                rng.integers(0, 700, 20).astype(np.uint16)) for _ in range(n)]
    write_h5(folder / name / "shd" / "shd_train.h5", samples, np.arange(n) % 20)
    write_h5(folder / name / "shd" / "shd_test.h5", samples[:8], np.arange(8))
import snnspec


def train(name):
    os.environ["SNNSPEC_DATA_ROOT"] = str(folder / name)
    out = folder / ("run-" + name)
    snnspec.train(str(folder / "spec.yaml"), out_dir=out, echo=None, progress=False)


train("small")  # compiles the steps first: what XLA keeps is not the data's
base = rss_anon()
peak = [base]
stop = threading.Event()


def poll():
    while not stop.is_set():
        peak[0] = max(peak[0], rss_anon())
        time.sleep(0.002)


threading.Thread(target=poll, daemon=True).start()
train("large")
stop.set()
print(peak[0] - base)
"""


@pytest.mark.slow
def test_training_streams_a_data_set_larger_than_its_memory_budget(
    tmp_path: Path, cache_dir: Path
) -> None:
    """A 420 MB binned data set (3000 x 50 steps x 700 channels, float32) is binned into the
    cache and trained on with anonymous memory growing by far less than its size (the
    memory-mapped cache pages are file pages, RssFile, not RssAnon)."""
    count, budget = 3000, 150 * 2**20
    size = count * 50 * 700 * 4
    assert size > 2 * budget
    spec = write_spec(tmp_path, "{type: shd, root: shd, max_duration: 1.0}", steps=50, channels=700)
    spec.write_text(spec.read_text().replace("batch_size: 4", "batch_size: 32"))
    script = tmp_path / "stream.py"
    script.write_text(STREAM.format(tests=str(Path(__file__).parent)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path), str(count)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    growth = int(done.stdout.split()[-1])
    assert growth < budget, f"anonymous memory grew by {growth / 2**20:.0f} MiB"
