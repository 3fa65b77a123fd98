"""Typer's parameter coercion without pydantic, for the values a person types (issue 17).

Since 0.29, typer turns every command-line value into its type through a pydantic
`TypeAdapter`, built when the command runs. Importing pydantic and building those adapters costs
about 0.1 s of a member command's start, more than the whole of the rest of `multitude --help`.

`prime(command)` gives every parameter of our commands a coercion that handles the common case
itself (a `str`, an `int` written in digits and within its bounds, a `Path`, one of a `Literal`'s
strings, a list of strings) and hands anything else (an error above all) to typer's own, built
only then. A value is therefore accepted or refused exactly as typer would, with typer's own
message. `tests/api/test_cli_startup.py` compares the two on the same inputs.

This leans on typer's internals (`typer._coercion.RuntimeParam` and the lazy `_runtime_param`
of each parameter). When a typer release moves them, this module fails to import and
`api.cli.main` goes without it: the commands still work, as slowly as before, and the startup
test that looks for pydantic in `sys.modules` fails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from typer._click import Command, Context
from typer._coercion import RuntimeParam, TypeDescriptor, build_runtime_param
from typer._param_types import coerce_cli_choice, coerce_cli_path
from typer.core import _TyperParameter

_DIGITS = re.compile(r"-?[0-9]{1,18}")


def prime(command: Command) -> None:
    """Give each parameter of `command` (and of its subcommands) its quick coercion, the
    `--help` option included, which click makes only when a command is parsed."""
    for param in command.params:
        _prime_param(param)
    make_help_option = command.get_help_option

    def get_help_option(ctx: Context) -> Any:
        option = make_help_option(ctx)
        if option is not None:
            _prime_param(option)
        return option

    command.get_help_option = get_help_option  # type: ignore[method-assign]
    for sub in getattr(command, "commands", {}).values():
        prime(sub)


def _prime_param(param: object) -> None:
    if isinstance(param, _TyperParameter) and getattr(param, "_runtime_param", 0) is None:
        quick = quick_param(param.type_descriptor)
        if quick is not None:
            param._runtime_param = quick


def quick_param(descriptor: TypeDescriptor) -> RuntimeParam | None:
    """The quick coercion for a parameter of this type, or None to leave it to typer."""
    info = descriptor.parameter_info
    annotation = descriptor.annotation
    origin: Any = get_origin(annotation)
    if info.parser is not None or descriptor.file_annotation is not None:
        return None
    if annotation is bool:
        kind = "bool"
    elif annotation is str:
        kind = "str"
    elif annotation is int and not info.clamp:
        kind = "int"
    elif annotation is Path and info.path_type is None:
        kind = "path"
    elif origin is Literal and _strings(get_args(annotation)):
        kind = "choice"
    elif origin is list and get_args(annotation) == (str,):
        kind = "strings"
    else:
        return None
    return QuickParam(info, annotation, descriptor, kind)


@dataclass(frozen=True)
class QuickParam(RuntimeParam):
    """One parameter's coercion: the common case here, anything else by typer's adapter."""

    descriptor: TypeDescriptor
    kind: str

    def _coerce_value(self, value: Any, param: Any, ctx: Context) -> Any:
        done = self._quick(value, param, ctx)
        if done is not _TYPER:
            return done
        return build_runtime_param(self.descriptor)._coerce_value(value, param=param, ctx=ctx)

    def _quick(self, value: Any, param: Any, ctx: Context) -> Any:
        kind, info = self.kind, self.parameter_info
        if kind == "bool":
            return value if isinstance(value, bool) else _TYPER
        if kind == "strings":
            if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
                return list(value)
            return _TYPER
        if kind == "int":
            number = _integer(value)
            low, high = info.min, info.max
            if number is None or (low is not None and number < low):
                return _TYPER
            return _TYPER if high is not None and number > high else number
        if kind == "path":
            path = Path(value) if isinstance(value, str) and value else value
            if type(path) is not type(Path()):
                return _TYPER
            return coerce_cli_path(path, info, path_type=Path, param=param, ctx=ctx)
        if not isinstance(value, str):
            return _TYPER
        if kind == "str":
            return value
        try:  # kind == "choice"
            choices = get_args(self.annotation)
            return coerce_cli_choice(
                value, choices=choices, case_sensitive=info.case_sensitive, ctx=ctx
            )
        except ValueError:
            return _TYPER


def _strings(values: tuple[Any, ...]) -> bool:
    return all(isinstance(v, str) for v in values)


def _integer(value: Any) -> int | None:
    """An int given as one (a default), or written as plain decimal digits."""
    if type(value) is int:
        return value
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)
    return None


_TYPER = object()  # "not the common case": typer's own coercion decides
