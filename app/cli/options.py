"""Command-line options derived from the API's request schemas, so that every API field is an option.

A field added to `StyleTransferParams` or `WaveForecastRequest` becomes an option of `stylize` or `forecast`
with nothing else to change: its name dashed (`layer_weights` -> `--layer-weights`), its description and
default as the help, its choices listed, a flag for a bool, and lists and mappings as the comma lists the
API's forms take (the schema's own validators split them).
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Iterable
from enum import Enum
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from rich.markup import escape


def with_schema_options(
    command: Callable[..., None], schema: type[BaseModel], exclude: Iterable[str] = ()
) -> Callable[..., None]:
    """Give `command` (which takes **options) one keyword option per field of `schema`, in the schema's order.

    They go after the command's positional parameters and before its own keyword-only ones (--server ...);
    fields the schema inherits (the webhook fields) come after its own.
    """
    signature = inspect.signature(command, eval_str=True)
    params = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    head = [p for p in params if p.kind is not p.KEYWORD_ONLY]
    tail = [p for p in params if p.kind is p.KEYWORD_ONLY]
    taken = {p.name for p in params} | set(exclude)
    inherited = {name for base in schema.__mro__[1:] for name in getattr(base, "model_fields", {})}
    names = [n for n in schema.model_fields if n not in inherited] + [n for n in schema.model_fields if n in inherited]
    fields = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=_option(name, field))
        for name in names
        if name not in taken
        for field in [schema.model_fields[name]]
    ]
    new = signature.replace(parameters=[*head, *fields, *tail])
    command.__signature__ = new  # type: ignore[attr-defined]  # typer reads the options from the signature
    command.__annotations__ = {p.name: p.annotation for p in new.parameters.values()} | {"return": None}
    return command


def _option(name: str, field: FieldInfo) -> Any:
    """The typer option for one field: its type (numbers, a flag, else a string), help, choices and default."""
    base = _strip_none(field.annotation)
    help_text = escape(field.description or "")  # the help is rich markup: `[24, 168]` would vanish
    choices = _choices(base)
    if choices:
        help_text = f"{help_text} ({' | '.join(choices)})".strip()
    elif base in (list, dict) or typing.get_origin(base) in (list, dict):
        help_text = f"{help_text} Comma list.".strip() if "comma" not in help_text.lower() else help_text
    default = _default(field)
    if default is not None:
        help_text = f"{help_text} \\[default: {escape(default)}]".strip()
    if base is bool:
        dashed = name.replace("_", "-")
        return Annotated[bool | None, typer.Option(f"--{dashed}/--no-{dashed}", help=help_text, show_default=False)]
    kind = base if base in (int, float) else str  # the rest travel as strings, exactly as in the HTTP form
    return Annotated[kind | None, typer.Option(help=help_text, show_default=False)]


def _default(field: FieldInfo) -> str | None:
    value = field.get_default(call_default_factory=True) if field.default is PydanticUndefined else field.default
    if value is None or value is PydanticUndefined:
        return None
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _strip_none(annotation: Any) -> Any:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    is_union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    return args[0] if is_union and len(args) == 1 else annotation


def _choices(base: Any) -> list[str]:
    if isinstance(base, type) and issubclass(base, Enum):
        return [str(m.value) for m in base]
    if typing.get_origin(base) is typing.Literal:
        return [str(a) for a in typing.get_args(base)]
    return []
