"""Command-line options generated from the settings declared on a config's fields, and the
config built back from the parsed options.

Every generated option defaults to None, "not given", so that the config's own default
applies and a resumed run records what was asked, not what the parser assumed. Values are
checked by the config itself (`__post_init__`), whose errors name the option by its flag.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from galaxy_studio.settings import Setting, settings_of

Config = TypeVar("Config")


def _comma_list(text: str) -> tuple[str, ...] | None:
    """`g,r,z` -> ("g", "r", "z"); an empty list is no choice (None)."""
    return tuple(part.strip() for part in text.split(",") if part.strip()) or None


def _help_text(setting: Setting) -> str:
    text = setting.help
    shown = setting.describe_default()
    if shown is not None and "default" not in text:
        text = f"{text} (default {shown})"
    return text.replace("%", "%%")


def _metavar(setting: Setting) -> str:
    return setting.declaration.metavar or setting.flag.lstrip("-").replace("-", "_").upper()


def option_arguments(setting: Setting) -> dict[str, Any]:
    """The keyword arguments of `add_argument` for one setting."""
    arguments: dict[str, Any] = {"dest": setting.name, "default": None, "help": _help_text(setting)}
    if setting.kind is bool:
        arguments["action"] = argparse.BooleanOptionalAction
    elif setting.choices is not None:
        arguments["choices"] = setting.choices
    elif setting.kind is tuple:
        arguments.update(type=_comma_list, metavar=_metavar(setting))
    elif setting.declaration.zero_means_none and setting.declaration.special_text:
        arguments.update(
            type=_number_or_word(setting.kind, setting.declaration.special_text), metavar=_metavar(setting)
        )
    else:
        arguments.update(type=setting.kind, metavar=_metavar(setting))
    return arguments


def _number_or_word(kind: type, word: str) -> Callable[[str], Any]:
    """A parser that reads `word` (what the spin box shows for 0) as 0, e.g. `--crop auto`."""

    def parse(text: str) -> Any:
        return kind(0) if text.strip().lower() == word.lower() else kind(text)

    parse.__name__ = kind.__name__
    return parse


def add_setting_options(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    config_cls: type,
    *,
    only: Iterable[str] | None = None,
    exclude: Iterable[str] = (),
) -> None:
    """Add an option per declared setting of `config_cls`: `only` those named (in that order),
    else all in declaration order, less `exclude`."""
    declared = settings_of(config_cls)
    names = list(declared) if only is None else list(only)
    unknown = [name for name in [*names, *exclude] if name not in declared]
    if unknown:
        raise KeyError(f"{config_cls.__name__} declares no setting {', '.join(unknown)}")
    skipped = set(exclude)
    for name in names:
        if name not in skipped:
            parser.add_argument(declared[name].flag, **option_arguments(declared[name]))


def chosen_settings(config_cls: type, args: argparse.Namespace) -> dict[str, Any]:
    """The settings of `config_cls` given on the command line (0 read as None where declared)."""
    chosen: dict[str, Any] = {}
    for name, setting in settings_of(config_cls).items():
        value = getattr(args, name, None)
        if value is None:
            continue
        chosen[name] = None if setting.declaration.zero_means_none and value == 0 else value
    return chosen


def config_from_args(
    config_cls: type[Config], args: argparse.Namespace, *, fallback: Mapping[str, Any] | None = None, **values: Any
) -> Config:
    """`config_cls(**values)` with every setting given on the command line; `fallback` holds
    values that apply where the command line left a setting out."""
    return config_cls(**{**(fallback or {}), **chosen_settings(config_cls, args), **values})


def add_table_format_option(parser: argparse.ArgumentParser, *, extra: tuple[str, ...] = ()) -> None:
    """`--format` for a command that writes a table; without it the output's name decides.
    `extra` formats are those a command writes besides the usual tables (classify: parquet)."""
    from galaxy_studio.data.tables import TABLE_FORMATS

    suffixes = "".join(f" .{fmt}" for fmt in extra)
    parser.add_argument(
        "--format",
        dest="table_format",
        choices=TABLE_FORMATS + extra,
        help=f"the table's format (default: by the name of --out: .csv .ecsv .fits/.fit .xml/.vot/.votable{suffixes}; "
        "any other name is CSV)",
    )
