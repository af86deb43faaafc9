"""User-facing errors.

Every failure a user can cause is a :class:`SpecError` (or subclass). It carries the
file, the 1-based line and column, and the dotted path of the offending field, and
renders as ``FILE:LINE:COL: path.to.field: message``; parts that are unknown are left out.
An error may carry further problems found in the same pass (``more``): it then renders as one
such line per problem, at most :data:`MAX_SHOWN`, and a count of the rest.

Messages state the facts in the Python API's terms. Advice about a setting that a front end
names its own way (the command line's flags) travels as a :class:`Hint`, which the front end
may phrase instead (``snnspec.cli.hints``); the library never names a command-line flag.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

PathElement = str | int
Path = tuple[PathElement, ...]

MAX_SHOWN = 20
"""At most this many problems are printed for one error; the rest are counted."""


def format_path(path: Sequence[PathElement]) -> str:
    """Render ``("layers", 3, "inputs")`` as ``layers[3].inputs``."""
    text = ""
    for element in path:
        if isinstance(element, int):
            text += f"[{element}]"
        else:
            text += f".{element}" if text else str(element)
    return text


def printable(text: str) -> str:
    """Text safe to print: control characters (terminal escapes) shown as escapes."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


@dataclass(frozen=True)
class Hint:
    """What a front end may phrase in its own terms in a message (the command line's flags).

    ``options`` are the settings the message names, each written in backticks by its Python
    name: `` `force=True` ``, `` `output` ``, `` `devices=3` ``, `` `override time.steps=4` ``.
    ``advice`` names advice that the message leaves out because the Python API has no such
    setting (``"max_memory"``: the command line can raise the memory budget).
    """

    options: tuple[str, ...] = ()
    advice: str = ""


Phrasing = Callable[["SpecError"], str]
"""A front end's rendering of one problem as a located line (see :meth:`SpecError.lines`)."""


_Error = TypeVar("_Error", bound="SpecError")


class SpecError(Exception):
    """A problem in user input: a spec, a params file, an input file or a run request."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        path: Sequence[PathElement] = (),
        more: Sequence[SpecError] = (),
        hint: Hint | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.path: Path = tuple(path)
        self.more: tuple[SpecError, ...] = tuple(more)
        self.hint = hint

    def with_hint(self: _Error, hint: Hint) -> _Error:
        """This error, closed by ``hint``."""
        self.hint = hint
        return self

    def lines(self, phrasing: Phrasing | None = None) -> list[str]:
        """One located line per problem (at most MAX_SHOWN), then a count of the rest.

        ``phrasing`` renders each problem instead of :meth:`located` (a front end's hints).
        """
        problems = [self, *self.more]
        render = phrasing or SpecError.located
        shown = [render(problem) for problem in problems[:MAX_SHOWN]]
        rest = len(problems) - MAX_SHOWN
        if rest > 0:
            shown.append(f"… and {rest} more problem{'s' * (rest > 1)}")
        return shown

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def located(self, message: str | None = None, file: str | None = None) -> str:
        """This problem alone as ``FILE:LINE:COL: path: message``.

        ``message`` and ``file`` replace the problem's own (a front end's phrasing of a hint).
        """
        message = self.message if message is None else message
        file = self.file if file is None else file
        location = ""
        if file is not None:
            location = file
            if self.line is not None:
                location += f":{self.line}"
                if self.column is not None:
                    location += f":{self.column}"
        parts = [part for part in (location, format_path(self.path)) if part]
        return ": ".join([*parts, message])


class LoadError(SpecError):
    """The file cannot be read or parsed safely (syntax, encoding, size, YAML tags...)."""


class SchemaError(SpecError):
    """The document does not match the spec schema (unknown key, wrong type, bound)."""


class GraphError(SpecError):
    """The graph is malformed: an index out of range, an unknown name, a bad final layer."""


class ShapeError(SpecError):
    """Shapes cannot be inferred through the graph, or do not fit a layer."""


class ParamsError(SpecError):
    """A parameters file does not fit the model (unknown key, shape, dtype, format)."""


class InputError(SpecError):
    """Run inputs or options do not fit the model (missing array, wrong shape, bad option)."""


class UsageError(InputError):
    """An argument that cannot apply to the others given (e.g. ``partial_params`` with a run
    folder): located at that ``setting`` (`` `partial_params`: ... ``) and hinting at it, so
    the command line reports it as a usage error (exit 2) on the setting's flag."""

    def __init__(self, message: str, *, setting: str) -> None:
        super().__init__(message, file=f"`{setting}`", hint=Hint(options=(setting,)))


class SpecWarning(UserWarning):
    """A spec that is valid but probably not what was meant; the message is one located line.

    The command line prints it on stderr as ``warning: FILE:LINE:COL: path: message``.
    """


def did_you_mean(choice: str) -> str:
    """The hint appended to a message naming an unknown word: `` (did you mean 'x'?)``."""
    return f" (did you mean '{choice}'?)"


def suggest(word: str, choices: Sequence[str], otherwise: str = "") -> str:
    """:func:`did_you_mean` the closest of ``choices`` to ``word``, else ``otherwise``."""
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return did_you_mean(close[0]) if close else otherwise
