"""Training options declared once: dataclass fields carry their flag, help, label and limits.

`TrainConfig` and `AugmentConfig` declare each option with `option(...)`; from
those declarations come the `train` command's flags, the Training page's inputs
(defaults and limits), range checks, and the command line that reproduces a run.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
from dataclasses import dataclass
from typing import Any, Iterator


@dataclass(frozen=True)
class Option:
    """How one configuration field appears outside the code."""

    flag: str  # the CLI flag, e.g. "--epochs"
    help: str
    label: str = ""  # the Training page's label ("" = not on the page)
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    off_flag: str = ""  # a boolean that defaults to on is turned off by this flag (e.g. "--no-flip")


def option(default: Any, flag: str, help: str, **kwargs: Any) -> Any:
    """A dataclass field with its Option in the metadata."""
    return dataclasses.field(default=default, metadata={"option": Option(flag, help, **kwargs)})


@dataclass(frozen=True)
class Declared:
    """One option of a config class: its dotted path (e.g. "augment.rotation"), type, default and Option."""

    path: str
    kind: type
    default: Any
    option: Option

    @property
    def name(self) -> str:
        return self.path.rsplit(".", 1)[-1]

    @property
    def dest(self) -> str:
        return self.path.replace(".", "__")


_KINDS = {"int": int, "float": float, "str": str, "bool": bool, "int | None": int, "str | None": str,
          "list[int] | None": list}


def declared(cls: type, prefix: str = "") -> Iterator[Declared]:
    """Every option of `cls`, nested config dataclasses included (their fields get a dotted path)."""
    for f in dataclasses.fields(cls):
        if "option" in f.metadata:
            default = None if f.default is dataclasses.MISSING else f.default  # required: no default
            yield Declared(prefix + f.name, _KINDS[str(f.type)], default, f.metadata["option"])
        elif f.metadata.get("nested"):
            yield from declared(f.metadata["nested"], f"{prefix}{f.name}.")


def check_ranges(obj: Any) -> None:
    """ValueError naming the option when a value lies outside its declared limits or choices."""
    for d in declared(type(obj)):
        value = obj
        for name in d.path.split("."):
            value = getattr(value, name)
        o = d.option
        if value is None or isinstance(value, (bool, list)):
            continue
        if o.choices and value not in o.choices:
            raise ValueError(f"{d.name} must be one of {', '.join(o.choices)}, got {value!r}.")
        if o.minimum is not None and value < o.minimum or o.maximum is not None and value > o.maximum:
            raise ValueError(f"{d.name} must be between {_fmt(o.minimum)} and {_fmt(o.maximum)}, got {value}.")


def _fmt(limit: float | None) -> str:
    return "-inf" if limit is None else f"{limit:g}"


def _ints(text: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 2,1,2,2,1, got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """One argparse option per declared field of `cls` (defaults from the dataclass)."""
    for d in declared(cls):
        o = d.option
        limits = f" [{_fmt(o.minimum)}, {_fmt(o.maximum)}]" if o.minimum is not None or o.maximum is not None else ""
        if d.kind is bool:
            if o.off_flag:
                parser.add_argument(o.off_flag, dest=d.dest, action="store_false", help=f"do not {o.help}")
            else:
                parser.add_argument(o.flag, dest=d.dest, action="store_true", help=o.help)
        elif d.kind is list:
            parser.add_argument(o.flag, dest=d.dest, type=_ints, default=d.default, metavar="N,N,...", help=o.help)
        else:
            parser.add_argument(o.flag, dest=d.dest, type=d.kind, default=d.default, choices=o.choices or None,
                                metavar=None if o.choices else d.name.upper(),
                                help=o.help + limits + (f" (default {d.default})" if d.default is not None else ""))


def values_from_args(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """{path: value} of every declared field of `cls` from parsed arguments."""
    return {d.path: getattr(args, d.dest) for d in declared(cls)}


def nest(values: dict[str, Any]) -> dict[str, Any]:
    """{"augment.zoom": 0.1, "epochs": 3} -> {"augment": {"zoom": 0.1}, "epochs": 3}."""
    out: dict[str, Any] = {}
    for path, value in values.items():
        *parents, name = path.split(".")
        target = out
        for parent in parents:
            target = target.setdefault(parent, {})
        target[name] = value
    return out


def command_line(cls: type, config: dict) -> list[str]:
    """The flags that rebuild `config` (a config.json dict); options left at None are omitted."""
    parts: list[str] = []
    for d in declared(cls):
        value: Any = config
        for key in d.path.split("."):
            value = value.get(key, d.default) if isinstance(value, dict) else d.default
        o = d.option
        if d.kind is bool:
            if o.off_flag and not value:
                parts.append(o.off_flag)
            elif not o.off_flag and value:
                parts.append(o.flag)
        elif value is not None:
            text = ",".join(map(str, value)) if d.kind is list else str(value)
            parts.append(f"{o.flag} {shlex.quote(text)}")
    return parts
