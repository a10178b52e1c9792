"""A setting is declared once, on its config dataclass field; the CLI option and the form row
are generated from that declaration.

`setting(default, help=..., label=...)` is a `dataclasses.field` whose metadata carries what
both interfaces need: the help text (the CLI's help, the GUI's tooltip), the control's label,
the CLI flag, the range of values that make sense and the choices. `settings_of(Config)` reads
them back as `Setting` records. `check_ranges(config)` is called by the configs'
`__post_init__` after their own checks, so that a value outside a declared range is refused
by the config itself, whichever interface built it, with a hint that each interface phrases
in its own words (`{field}` -> `--flag` or the control's label). GUI-free: the Qt form lives
in gui/widgets/settings_form.py, the argparse options in cli/options.py.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

from galaxy_studio.errors import Namer, UserError, flag_name, name_settings_for_cli

_KEY = "galaxy_studio.setting"
_CONFIGS: list[type] = []

Number = int | float


class SettingError(UserError, ValueError):
    """A setting outside its declared range or choices; nothing ran."""


@dataclass(frozen=True)
class Declaration:
    """What `setting()` stores in a field's metadata (the field's name and type come later)."""

    help: str
    label: str
    flag: str | None = None
    range: tuple[Number | None, Number | None] | None = None
    choices: tuple[Any, ...] | None = None
    metavar: str | None = None
    zero_means_none: bool = False
    box_text: str | None = None
    widget_range: tuple[Number, Number] | None = None
    decimals: int | None = None
    step: float | None = None
    suffix: str = ""
    special_text: str | None = None


@dataclass(frozen=True)
class Setting:
    """One declared field of a config: its name, value type and declaration.

    `kind` is the type a value has when set (int, float, str, bool, or tuple for a tuple of
    strings); `optional` says whether None is allowed (the field's default, usually)."""

    name: str
    kind: type
    optional: bool
    default: Any
    declaration: Declaration

    @property
    def help(self) -> str:
        return self.declaration.help

    @property
    def label(self) -> str:
        return self.declaration.label

    @property
    def flag(self) -> str:
        return self.declaration.flag or flag_name(self.name)

    @property
    def choices(self) -> tuple[Any, ...] | None:
        return self.declaration.choices

    @property
    def range(self) -> tuple[Number | None, Number | None] | None:
        return self.declaration.range

    def describe_default(self) -> str | None:
        """The default as the CLI's help shows it, or None when there is nothing to show."""
        value = self.default
        if value is None:
            return "0" if self.declaration.zero_means_none else None
        if isinstance(value, bool):
            return "on" if value else "off"
        if isinstance(value, float):
            return f"{value:g}"
        if isinstance(value, tuple):
            return ",".join(str(part) for part in value)
        return str(value)


def setting(
    default: Any,
    *,
    help: str,
    label: str,
    flag: str | None = None,
    range: tuple[Number | None, Number | None] | None = None,
    choices: Sequence[Any] | None = None,
    metavar: str | None = None,
    zero_means_none: bool = False,
    box_text: str | None = None,
    widget_range: tuple[Number, Number] | None = None,
    decimals: int | None = None,
    step: float | None = None,
    suffix: str = "",
    special_text: str | None = None,
) -> Any:
    """A config field with its declaration.

    help: the CLI's help and the GUI's tooltip; label: the control's text (for a checkbox,
    the row's caption when `box_text` is the box's own text); flag: the CLI option (default
    `flag_name(field)`); range: inclusive (low, high), either end None for open, refused by
    `check_ranges`; choices: the allowed values; zero_means_none: 0 on the command line or in
    a spin box stands for None (off, never, the default); widget_range, decimals, step,
    suffix, special_text: how a spin box shows the value. The GUI's forms start from the
    default too, so a run started there is the recipe the CLI runs and the docs measure."""
    declaration = Declaration(
        help=help,
        label=label,
        flag=flag,
        range=range,
        choices=None if choices is None else tuple(choices),
        metavar=metavar,
        zero_means_none=zero_means_none,
        box_text=box_text,
        widget_range=widget_range,
        decimals=decimals,
        step=step,
        suffix=suffix,
        special_text=special_text,
    )
    return dataclasses.field(default=default, metadata={_KEY: declaration})


def registered(cls: type) -> type:
    """Class decorator: `control_label` looks field names up in the registered configs."""
    if cls not in _CONFIGS:
        _CONFIGS.append(cls)
    return cls


def _value_kind(annotation: Any) -> tuple[type, bool]:
    """(value type, None allowed) of a field annotation such as `int | None`."""
    optional = False
    if typing.get_origin(annotation) in (Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        optional = len(members) < len(typing.get_args(annotation))
        annotation = members[0]
    origin = typing.get_origin(annotation)
    if origin is tuple:
        return tuple, optional
    if annotation in (int, float, str, bool):
        return annotation, optional
    raise TypeError(f"a setting must be int, float, str, bool or a tuple of str, not {annotation!r}")


def settings_of(config_cls: type) -> dict[str, Setting]:
    """The declared fields of a config dataclass, in declaration order, by field name."""
    hints = typing.get_type_hints(config_cls)
    found: dict[str, Setting] = {}
    for field in dataclasses.fields(config_cls):
        declaration = field.metadata.get(_KEY)
        if declaration is None:
            continue
        kind, optional = _value_kind(hints[field.name])
        found[field.name] = Setting(field.name, kind, optional, field.default, declaration)
    return found


def humanised(field: str) -> str:
    """A readable name for a field nobody declared: `lr_img` -> `Lr img`."""
    words = field.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


# Fields that every run config has but no form shows, because the panels choose them (a
# new folder for each run): how the CLI and the GUI name them in a hint.
_UNDECLARED = {"out_dir": ("--out", "run")}


def control_label(field: str) -> str:
    """The GUI's name of a setting, for `UserError.text(control_label)`: the label of the first
    registered config that declares `field`, else a humanised field name."""
    if field in _UNDECLARED:
        return _UNDECLARED[field][1]
    return labeller(*_CONFIGS)(field)


def option_flag(field: str) -> str:
    """The CLI's name of a setting, for `UserError.text(option_flag)`: the declared flag (say
    `--crop` for crop_fraction), else `flag_name(field)`."""
    for cls in _CONFIGS:
        found = settings_of(cls).get(field)
        if found is not None:
            return found.flag
    if field in _UNDECLARED:
        return _UNDECLARED[field][0]
    return flag_name(field)


def labeller(*config_classes: type) -> Namer:
    """A namer that prefers the labels of `config_classes` (a panel's own configs) and falls
    back to every registered config, then to a humanised name."""

    def name(field: str) -> str:
        for cls in (*config_classes, *_CONFIGS):
            found = settings_of(cls).get(field)
            if found is not None:
                return found.label
        return humanised(field)

    return name


def _describe_range(low: Number | None, high: Number | None) -> str:
    if low is not None and high is not None:
        return f"between {low:g} and {high:g}"
    if low is not None:
        return f"at least {low:g}"
    return f"at most {high:g}"


def check_ranges(config: Any) -> None:
    """Refuse a declared setting outside its range or choices (None passes where the field
    allows it). The configs call it after their own, more specific checks."""
    for setting_ in settings_of(type(config)).values():
        value = getattr(config, setting_.name)
        if value is None:
            continue
        choices = setting_.choices
        if choices is not None and value not in choices:
            raise SettingError(
                f"{setting_.name} must be one of {', '.join(map(str, choices))}, got {value!r}",
                f"choose {{{setting_.name}}} from the list",
            )
        bounds = setting_.range
        if bounds is None:
            continue
        low, high = bounds
        if (low is not None and value < low) or (high is not None and value > high):
            wanted = _describe_range(low, high)
            raise SettingError(f"{setting_.name} must be {wanted}, got {value!r}", f"set {{{setting_.name}}} {wanted}")


name_settings_for_cli(option_flag)


def changed_settings(recorded: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """(name, recorded value, wanted value) of every setting whose values differ, by name: what
    a refusal to continue someone's earlier job with other settings names."""
    return [
        (name, recorded.get(name), wanted.get(name))
        for name in sorted(set(recorded) | set(wanted))
        if recorded.get(name) != wanted.get(name)
    ]


def changed_settings_text(recorded: Any, wanted: Mapping[str, Any]) -> str:
    """The settings a folder's recorded recipe holds other values of, as a refusal names them
    ("width 16 there, 32 asked"), so the user can repeat the run's settings or choose another
    folder knowing what differs; a record that is no mapping at all (damaged, or of a far older
    version) says so."""
    if not isinstance(recorded, Mapping):
        return "its settings are unreadable"
    return ", ".join(
        f"{name} {there!r} there, {asked!r} asked" for name, there, asked in changed_settings(recorded, wanted)
    )
