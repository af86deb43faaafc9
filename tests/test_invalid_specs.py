"""Every file in tests/data/invalid/ is rejected with exactly the message beside it.

Each problem is one line, ``FILE:LINE:COL: path: message``, on stderr, with exit code 1 and no
traceback. To add a case, write the bad file and its ``<file>.expected``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from snnspec import cli

INVALID = Path(__file__).resolve().parent / "data" / "invalid"
CASES = sorted(p for p in INVALID.iterdir() if p.suffix != ".expected")


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 15
    assert {p.suffix for p in CASES} >= {".yaml", ".json", ".toml"}
    assert all(Path(f"{p}.expected").is_file() for p in CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_rejected_with_exact_message(
    case: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(INVALID)
    monkeypatch.setattr(sys, "argv", ["snnspec", "validate", case.name])
    with pytest.raises(SystemExit) as stop:
        cli.main()
    captured = capsys.readouterr()
    assert stop.value.code == 1
    assert captured.out == ""
    assert captured.err == Path(f"{case}.expected").read_text(encoding="utf-8")
    assert "Traceback" not in captured.err
    assert not (INVALID / "PWNED").exists()
