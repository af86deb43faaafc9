"""docs/guarantees.md names only tests that exist: a guarantee naming a missing test is held by
nothing."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUARANTEES = ROOT / "docs" / "guarantees.md"
TEST_REF = re.compile(r"`(tests/[\w/]+\.py)::(\w+)(?:\[[^\]`]*\])?`")
DATA_REF = re.compile(r"`(tests/data/[^`\s]+)`")
CASE_FOLDERS = ("tests/data/invalid/", "tests/data/hostile/")


def _bullets(text: str) -> list[str]:
    """Top-level list items, each joined with its indented continuation lines."""
    bullets: list[str] = []
    open_item = False
    for line in text.splitlines():
        if line.startswith("- "):
            bullets.append(line)
            open_item = True
        elif open_item and line.startswith("  ") and line.strip():
            bullets[-1] += " " + line.strip()
        else:
            open_item = False
    return bullets


def test_every_test_named_in_the_guarantees_exists() -> None:
    text = GUARANTEES.read_text(encoding="utf-8")
    refs = TEST_REF.findall(text)
    assert len(refs) >= 50  # the page lists its guarantees, not a handful
    missing = []
    for file, name in refs:
        path = ROOT / file
        if not path.is_file() or not re.search(
            rf"^def {name}\(", path.read_text(encoding="utf-8"), re.M
        ):
            missing.append(f"{file}::{name}")
    assert missing == []


def test_every_data_case_named_in_the_guarantees_exists() -> None:
    """A file under tests/data/invalid/ or tests/data/hostile/ is a case only when the
    `.expected` message beside it exists; the folders themselves are named in the intro."""
    refs = DATA_REF.findall(GUARANTEES.read_text(encoding="utf-8"))
    assert refs
    missing = [ref for ref in refs if not (ROOT / ref).exists()]
    missing += [
        f"{ref}.expected"
        for ref in refs
        if ref.startswith(CASE_FOLDERS)
        and not ref.endswith("/")
        and not (ROOT / f"{ref}.expected").is_file()
    ]
    assert missing == []


def test_every_guarantee_names_a_test() -> None:
    """Each bullet names a test or a test case; the bold rule summaries that introduce a
    section (`- **Folders**`) are the only bullets without one."""
    bullets = _bullets(GUARANTEES.read_text(encoding="utf-8"))
    assert len(bullets) >= 50
    untested = [
        b
        for b in bullets
        if not b.startswith("- **") and not TEST_REF.search(b) and not DATA_REF.search(b)
    ]
    assert untested == []


EVENT_DATA_SETS = {"shd": "SHD", "ssc": "SSC", "nmnist": "N-MNIST", "dvs_gesture": "DVS Gesture"}


def test_every_data_set_config_is_in_the_experiments_table() -> None:
    """docs/experiments.md has a row per config in configs/ that trains on a real data set (SHD
    first), naming its data set, and each such config's header states the published accuracy
    and the command that reproduces it."""
    import yaml

    text = (ROOT / "docs" / "experiments.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| [`")]
    listed = {}
    for row in rows:
        found = re.match(r"\| \[`([^`]+)`\]", row)
        assert found is not None, row
        listed[found.group(1)] = row
    configs = {}
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        data = (yaml.safe_load(path.read_text(encoding="utf-8")).get("train") or {}).get("data")
        if data and data.get("type") in EVENT_DATA_SETS:
            configs[path.name] = (path, data["type"])
    assert set(configs) >= {"shd_recurrent.yaml", "nmnist_conv.yaml", "dvs_gesture_conv.yaml"}
    assert set(listed) == set(configs)
    assert rows[0].startswith("| [`shd_recurrent.yaml`]")
    for name, (path, kind) in configs.items():
        assert f"| {EVENT_DATA_SETS[kind]} (`{kind}`) |" in listed[name]
        header = path.read_text(encoding="utf-8").split("\nsnnspec:")[0]
        assert "Published test accuracy:" in header
        assert f"snnspec train configs/{name} " in header
        assert "--data-root" in header
