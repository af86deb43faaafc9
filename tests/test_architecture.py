"""The layout's rules, checked from the source: no import cycles (lazy imports included), the
library never imports the CLI, few private top-level modules."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "snnspec"
MAX_PRIVATE_TOP_LEVEL = 12


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, in functions too, except inside ``if TYPE_CHECKING:``."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def imported_modules(name: str) -> set[str]:
    """The snnspec modules ``name`` imports (a ``from package import module`` counts the
    module; otherwise the package)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                origin = ".".join([*base, node.module] if node.module else base)
            else:
                origin = node.module or ""
            targets = [
                f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in MODULES else origin
                for alias in node.names
            ]
        found.update(t for t in targets if t in MODULES and t != name)
    return found


GRAPH = {name: imported_modules(name) for name in MODULES}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's components with more than one module (a self-import cannot happen)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_no_import_cycles() -> None:
    assert strongly_connected(GRAPH) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


LIBRARY = sorted(n for n in MODULES if not n.startswith("snnspec.cli") and n != "snnspec.__main__")


@pytest.mark.parametrize("name", LIBRARY)
def test_the_library_does_not_import_the_cli(name: str) -> None:
    assert not {m for m in GRAPH[name] if m == "snnspec.cli" or m.startswith("snnspec.cli.")}


def test_few_private_modules_at_the_top_level() -> None:
    private = [
        p.name for p in PACKAGE.glob("_*.py") if p.name not in ("__init__.py", "__main__.py")
    ]
    assert len(private) <= MAX_PRIVATE_TOP_LEVEL, private


# --- the public API ------------------------------------------------------------------------


def test_every_public_name_resolves_and_the_lazy_table_matches_the_type_imports() -> None:
    import snnspec

    for name in snnspec.__all__:
        assert getattr(snnspec, name) is not None, name
    facade = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    typed = {
        alias.asname or alias.name
        for node in ast.walk(facade)
        if isinstance(node, ast.If) and _type_checking(node)
        for statement in node.body
        if isinstance(statement, ast.ImportFrom)
        for alias in statement.names
    }
    lazy = set(snnspec._LAZY)  # pyright: ignore[reportPrivateUsage]
    assert typed == lazy
    eager = {n for n in snnspec.__all__ if n not in lazy}
    assert eager | lazy == set(snnspec.__all__)
    assert all(not name.startswith("_") for name in snnspec.__all__)


def _documented_imports() -> list[tuple[str, str]]:
    """(file, module) of every ``import snnspec...`` / ``from snnspec... import`` shown in the
    README and docs, in code blocks or inline."""
    root = PACKAGE.parent
    found = []
    for path in [
        root / "README.md",
        root / "CONTRIBUTING.md",
        *sorted((root / "docs").glob("*.md")),
    ]:
        if not path.exists():
            continue
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"(?:from|import)\s+(snnspec(?:\.[A-Za-z_][\w]*)*)", text):
            found.append((path.name, match.group(1)))
    return found


def test_docs_need_nothing_private() -> None:
    private = [
        (file, module)
        for file, module in _documented_imports()
        if any(part.startswith("_") for part in module.split("."))
    ]
    assert private == []


# --- one road from text to a spec --------------------------------------------------------

COMMANDS = [
    ["validate"],
    ["build", "-o", "{tmp}/build"],
    ["run"],
    ["train", "-o", "{tmp}/run"],
    ["sweep", "-o", "{tmp}/sweep"],
    ["resolve"],
    ["graph"],
    ["export", "--python", "-o", "{tmp}/model.py"],
    ["nir", "export", "-o", "{tmp}/model.nir"],
]


@pytest.fixture(scope="module")
def bad_train_spec(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A spec whose only problem is a ``train.loss.layer`` naming no layer, and the message
    :func:`snnspec.load` gives for it."""
    import snnspec

    source = PACKAGE.parent / "configs" / "synthetic_recurrent.yaml"
    text = source.read_text(encoding="utf-8")
    assert "readout: max_membrane," in text
    path = tmp_path_factory.mktemp("one-loader") / "bad.yaml"
    path.write_text(text.replace("readout: max_membrane,", "readout: max_membrane, layer: nope,"))
    with pytest.raises(snnspec.SpecError) as caught:
        snnspec.load(path)
    message = str(caught.value)
    assert "train.loss.layer" in message
    return path, message


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_every_command_refuses_a_bad_train_section_like_load(
    command: list[str],
    bad_train_spec: tuple[Path, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from helpers import run_cli

    path, message = bad_train_spec
    head, *options = command
    args = [head, *(options[:1] if head == "nir" else []), str(path)]
    args += [o.format(tmp=tmp_path) for o in (options[1:] if head == "nir" else options)]
    code, _, err = run_cli(*args, capsys=capsys)
    assert (code, err) == (1, message + "\n")
    assert list(tmp_path.iterdir()) == []  # nothing written


def _messages(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Every string literal but docstrings, an f-string's fields shown as ``{}``."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    inside_fstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            inside_fstrings |= {id(part) for part in node.values}
            text = "".join(
                str(part.value) if isinstance(part, ast.Constant) else "{}" for part in node.values
            )
            yield node.lineno, text
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings | inside_fstrings
        ):
            yield node.lineno, node.value


CHANGELOG = "snnspec.bundle.changelog"
"""The changelog's entries are documentation of the command line, not messages."""


def test_library_messages_name_no_command_line_flag() -> None:
    """The library states the facts; the CLI names its flags (snnspec.cli.hints). A whole
    command line in backticks (`snnspec train DIR --resume`) is advice and may stand."""
    from snnspec.cli import app
    from snnspec.cli.hints import all_flags

    long_flags = sorted(flag for flag in all_flags(app) if flag.startswith("--"))
    assert {"--max-memory", "--force", "--set", "--resume", "--devices"} <= set(long_flags)
    flag = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, long_flags)) + r")(?![\w-])")
    command_line = re.compile(r"`snnspec [^`]*`")
    found = []
    for name, path in MODULES.items():
        if name == "snnspec.cli" or name.startswith(("snnspec.cli.", CHANGELOG)):
            continue
        for line, text in _messages(ast.parse(path.read_text(encoding="utf-8"))):
            named = flag.findall(command_line.sub("", text))
            found += [f"{path.relative_to(PACKAGE.parent)}:{line}: {n}" for n in named]
    assert found == []
