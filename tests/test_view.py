"""``snnspec view``: one self-contained HTML page of a spec, a build folder or a training run.

The page is checked by parsing it (every layer and input name is text in the graph's SVG, one
dashed edge per delayed source, no external resource) and, where Playwright and a Chromium are
installed, in a real headless browser: it loads without a console error and shows every
layer.
"""

from __future__ import annotations

import os
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from helpers import TINY_MODEL, run_cli

from snnspec.graph.plan import plan_graph
from snnspec.spec.load import load

CONFIGS = sorted((Path(__file__).parent.parent / "configs").glob("*.y*ml"))

TINY_RUN = (
    TINY_MODEL
    + """\
train:
  data: {type: synthetic, num_samples: 40, num_classes: 3, segments: 2, rate_high: 0.5,
         validation_fraction: 0.25, test_fraction: 0.25}
  loss: {type: cross_entropy, readout: max_membrane, scale: 5.0}
  optimizer: {learning_rate: 0.01}
  epochs: 2
  batch_size: 10
"""
)


class _Page(HTMLParser):
    """What the tests read from a page: the graph's node names and texts, edge classes,
    every tag and attribute that could load something from elsewhere."""

    def __init__(self) -> None:
        super().__init__()
        self.node_names: list[str] = []
        self.graph_texts: list[str] = []
        self.edge_classes: list[str] = []
        self.tags: list[str] = []
        self.sources: list[str] = []
        self.svgs = 0
        self._graph_depth = 0
        self._in_text = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.tags.append(tag)
        self.sources += [v or "" for k, v in attrs if k in ("src", "href")]
        if tag == "svg":
            self.svgs += 1
            if values.get("class") == "graph":
                self._graph_depth = 1
            elif self._graph_depth:
                self._graph_depth += 1
        if self._graph_depth and tag == "g" and "data-name" in values:
            self.node_names.append(values["data-name"] or "")
        if self._graph_depth and tag == "path" and "edge" in (values.get("class") or ""):
            self.edge_classes.append(values.get("class") or "")
        self._in_text = bool(self._graph_depth) and tag == "text"

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg" and self._graph_depth:
            self._graph_depth -= 1
        if tag == "text":
            self._in_text = False

    def handle_data(self, data: str) -> None:
        if self._in_text:
            self.graph_texts.append(data)


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished two-epoch training run of the tiny recurrent network."""
    import snnspec

    folder = tmp_path_factory.mktemp("view-run")
    spec = folder / "tiny.yaml"
    spec.write_text(TINY_RUN)
    return snnspec.train(spec, folder / "run", progress=False).dir


@pytest.mark.parametrize("config", CONFIGS, ids=[c.name for c in CONFIGS])
def test_page_of_every_shipped_config_names_every_layer_and_marks_delayed_edges(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "page.html"
    code, out, err = run_cli("view", config, "-o", output, capsys=capsys)
    assert code == 0, err
    assert out.strip() == f"wrote {output}"
    plan = plan_graph(load(config))
    page = parse(output)
    names = [*plan.input_names, *plan.layer_names]
    assert sorted(page.node_names) == sorted(names)
    assert set(names) <= set(page.graph_texts)
    delayed = sum(source.delayed for sources in plan.sources for source in sources)
    edges = sum(len(sources) for sources in plan.sources)
    assert len(page.edge_classes) == edges
    assert sum("delayed" in c.split() for c in page.edge_classes) == delayed
    assert "script" not in page.tags
    assert page.sources == []


def test_same_target_gives_the_same_bytes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = CONFIGS[0]
    first, second = tmp_path / "a.html", tmp_path / "b.html"
    assert run_cli("view", config, "-o", first, capsys=capsys)[0] == 0
    assert run_cli("view", config, "-o", second, capsys=capsys)[0] == 0
    assert first.read_bytes() == second.read_bytes()
    assert oct(first.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_view_refuses_to_overwrite_and_non_html_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = CONFIGS[0]
    existing = tmp_path / "page.html"
    existing.write_text("mine")
    code, _, err = run_cli("view", config, "-o", existing, capsys=capsys)
    assert code == 1
    assert "--force" in err
    assert existing.read_text() == "mine"
    assert run_cli("view", config, "-o", existing, "--force", capsys=capsys)[0] == 0
    assert existing.read_text().startswith("<!DOCTYPE html>")
    code, _, err = run_cli("view", config, "-o", tmp_path / "page.png", capsys=capsys)
    assert code == 2
    assert "-o" in err
    assert not (tmp_path / "page.png").exists()


def test_page_of_a_build_folder_states_its_spec_hash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY_MODEL)
    assert run_cli("build", spec, "-o", tmp_path / "built", capsys=capsys)[0] == 0
    output = tmp_path / "page.html"
    assert run_cli("view", tmp_path / "built", "-o", output, capsys=capsys)[0] == 0
    manifest = json.loads((tmp_path / "built" / "manifest.json").read_text())
    text = output.read_text()
    assert manifest["spec_sha256"] in text
    assert "(build folder)" in text


def test_page_of_a_run_has_results_curves_and_a_raster(
    trained_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "run.html"
    code, _, err = run_cli("view", trained_run, "-o", output, capsys=capsys)
    assert code == 0, err
    page = parse(output)
    text = output.read_text()
    assert page.svgs >= 3  # the graph, the curves, the raster
    for heading in ("Results", "Training curves", "Spikes of a test sample", "SynOps/step"):
        assert heading in text
    assert sorted(page.node_names) == sorted(["spikes", "fc1", "lif1", "fc2", "out"])


def _browser() -> tuple[object, str]:
    """Playwright's sync API and a Chromium executable, or skip saying which is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the browser check needs Playwright: pip install playwright")
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return sync_playwright, found
    pytest.skip(
        "the browser check needs a Chromium on PATH (Debian: apt-get install chromium; "
        "Playwright's own browser download is not used)"
    )


def test_page_loads_in_a_headless_browser_without_errors_and_shows_every_layer(
    trained_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sync_playwright, executable = _browser()
    pages = {}
    for name, target in (("spec", CONFIGS[0]), ("run", trained_run)):
        pages[name] = tmp_path / f"{name}.html"
        assert run_cli("view", target, "-o", pages[name], capsys=capsys)[0] == 0
    expected = {
        "spec": plan_graph(load(CONFIGS[0])).layer_names,
        "run": ("fc1", "lif1", "fc2", "out"),
    }
    with sync_playwright() as playwright:  # type: ignore[operator]
        browser = playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            for name, path in pages.items():
                page = browser.new_page()
                problems: list[str] = []
                page.on(
                    "console",
                    lambda m, found=problems: found.append(m.text) if m.type == "error" else None,
                )
                page.on("pageerror", lambda e, found=problems: found.append(str(e)))
                page.on("requestfailed", lambda r, found=problems: found.append(r.url))
                page.goto(path.as_uri())
                assert problems == []
                graph = page.locator("svg.graph")
                assert graph.is_visible()
                shown = graph.text_content() or ""
                for layer in expected[name]:
                    assert layer in shown
                    assert page.locator(f'svg.graph g[data-name="{layer}"]').is_visible()
                page.close()
        finally:
            browser.close()
