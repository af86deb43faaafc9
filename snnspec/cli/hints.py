"""The command line's wording of the library's hints (:class:`snnspec._errors.Hint`).

The library names the settings a message advises on by their Python names, in backticks
(`` `force=True` ``, `` `devices=3` ``, `` `override time.steps=4` ``); here they become the flags
of this command line, found from the app's own options. Advice for which the Python API has no
setting (raising the memory budget) is added here too.
"""

from __future__ import annotations

import functools
import re

import typer

from .._errors import SpecError, UsageError

ADVICE = {
    "max_memory": "; raise it with --max-memory",
    "or_max_memory": ", or raise --max-memory",
}
"""The command line's advice for each :attr:`Hint.advice <snnspec._errors.Hint.advice>`."""

ALIASES = {"override": "overrides", "out_dir": "output"}
"""Words the library uses for a setting whose Python argument has another name."""

_SETTING = re.compile(r"`(\w+)(?:(=| )([^`]*))?`")


def flags(app: typer.Typer) -> dict[str, str]:
    """Every option of ``app`` by its Python name -> its shortest flag (``output`` -> ``-o``)."""
    return {name: min(opts, key=len) for name, opts in _options(app).items()}


@functools.cache
def _options(app: typer.Typer) -> dict[str, list[str]]:
    """Every option of every command of ``app``: its Python name -> its flags."""
    found: dict[str, list[str]] = {}
    pending = [typer.main.get_command(app)]
    while pending:
        command = pending.pop()
        pending += getattr(command, "commands", {}).values()
        for param in command.params:
            if param.param_type_name == "option" and param.name is not None:
                found.setdefault(param.name, []).extend([*param.opts, *param.secondary_opts])
    return found


def all_flags(app: typer.Typer) -> set[str]:
    """Every flag of ``app`` (``--max-memory``, ``-o``, ...)."""
    return {flag for opts in _options(app).values() for flag in opts}


def phrased(app: typer.Typer, problem: SpecError) -> str:
    """``problem`` as one located line, its settings named by ``app``'s flags."""
    if problem.hint is None:
        return problem.located()
    message = phrase(app, problem, problem.message) + ADVICE.get(problem.hint.advice, "")
    file = None if problem.file is None else phrase(app, problem, problem.file)
    return problem.located(message, file)


def phrase(app: typer.Typer, problem: SpecError, text: str) -> str:
    """``text`` (of ``problem``) with the settings its hint names written as ``app``'s flags."""
    hint = problem.hint
    if hint is None:
        return text
    names = flags(app)

    def flag(match: re.Match[str]) -> str:
        name, separator, value = match.groups()
        option = ALIASES.get(name, name)
        if name not in hint.options or option not in names:
            return match[0]
        if separator is None or value == "True":
            return names[option]
        return f"{names[option]} {value}"

    return _SETTING.sub(flag, text)


def bad_parameter(app: typer.Typer, error: UsageError) -> typer.BadParameter:
    """``error`` as typer's usage error (exit 2) on the flag of the setting it is located at."""
    where = None if error.file is None else phrase(app, error, error.file)
    return typer.BadParameter(phrase(app, error, error.message), param_hint=where)
