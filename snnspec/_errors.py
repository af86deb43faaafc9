"""User-facing errors.

Every failure a user can cause is a :class:`SpecError` (or subclass). It carries the
file, the 1-based line and column, and the dotted path of the offending field, and
renders as ``FILE:LINE:COL: path.to.field: message``; parts that are unknown are left out.
An error may carry further problems found in the same pass (``more``): it then renders as one
such line per problem, at most :data:`MAX_SHOWN`, and a count of the rest.
"""

from __future__ import annotations

from collections.abc import Sequence

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
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.path: Path = tuple(path)
        self.more: tuple[SpecError, ...] = tuple(more)

    def lines(self) -> list[str]:
        """One located line per problem (at most MAX_SHOWN), then a count of the rest."""
        problems = [self, *self.more]
        shown = [problem.located() for problem in problems[:MAX_SHOWN]]
        rest = len(problems) - MAX_SHOWN
        if rest > 0:
            shown.append(f"… and {rest} more problem{'s' * (rest > 1)}")
        return shown

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def located(self) -> str:
        """This problem alone as ``FILE:LINE:COL: path: message``."""
        location = ""
        if self.file is not None:
            location = self.file
            if self.line is not None:
                location += f":{self.line}"
                if self.column is not None:
                    location += f":{self.column}"
        parts = [part for part in (location, format_path(self.path)) if part]
        return ": ".join([*parts, self.message])


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
    folder); the command line reports it as a usage error (exit 2) on ``option``."""

    def __init__(self, message: str, *, option: str) -> None:
        super().__init__(message)
        self.option = option


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
