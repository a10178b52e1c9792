"""Form controls generated from the settings declared on a config's fields.

The control follows the value type: a QComboBox for choices, a QCheckBox for a bool, a
QSpinBox or QDoubleSpinBox for a number (range, decimals, suffix from the declaration), with
the declared help as tooltip. The control starts at the config's default (or at the
declared form default), so a form never carries defaults of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QSpinBox,
    QWidget,
)

from galaxy_studio.settings import Setting, settings_of

# Spin boxes need finite bounds; an open end of a declared range stops here.
_LARGEST_INT = 2**31 - 1
_LARGEST_FLOAT = 1e9


def tooltip(setting: Setting) -> str:
    """The help as a sentence, unless it starts with a value a user types as it is (`auto: ...`)."""
    text = setting.help
    first_word = text.split(":", 1)[0].split(" ", 1)[0]
    if setting.choices is not None and first_word in map(str, setting.choices):
        return text
    return text[:1].upper() + text[1:]


def _bounds(setting: Setting) -> tuple[float, float]:
    declaration = setting.declaration
    if declaration.widget_range is not None:
        return declaration.widget_range
    low, high = setting.range or (None, None)
    largest = _LARGEST_INT if setting.kind is int else _LARGEST_FLOAT
    return (0 if low is None else low, largest if high is None else high)


def setting_control(setting: Setting) -> QWidget:
    """A control for `setting`, showing its form default."""
    declaration = setting.declaration
    control: QWidget
    if setting.kind is bool:
        control = QCheckBox(declaration.box_text or setting.label)
    elif setting.choices is not None:
        control = QComboBox()
        control.addItems([str(choice) for choice in setting.choices])
    elif setting.kind is int:
        control = QSpinBox()
        low, high = _bounds(setting)
        control.setRange(int(low), int(high))
        control.setSuffix(declaration.suffix)
    elif setting.kind is float:
        control = QDoubleSpinBox()
        decimals = 2 if declaration.decimals is None else declaration.decimals
        control.setDecimals(decimals)
        control.setRange(*_bounds(setting))
        control.setSingleStep(declaration.step if declaration.step is not None else 10.0 ** (1 - decimals))
        control.setSuffix(declaration.suffix)
    else:
        raise TypeError(f"no form control for setting {setting.name} of type {setting.kind.__name__}")
    if declaration.special_text is not None and isinstance(control, QSpinBox | QDoubleSpinBox):
        control.setSpecialValueText(declaration.special_text)
    control.setToolTip(tooltip(setting))
    show_value(setting, control, setting.default)
    return control


def show_value(setting: Setting, control: QWidget, value: Any) -> None:
    if isinstance(control, QCheckBox):
        control.setChecked(bool(value))
    elif isinstance(control, QComboBox):
        control.setCurrentText(str(value))
    elif isinstance(control, QSpinBox | QDoubleSpinBox):
        control.setValue(0 if value is None else value)


def control_value(setting: Setting, control: QWidget) -> Any:
    if isinstance(control, QCheckBox):
        return control.isChecked()
    if isinstance(control, QComboBox):
        return control.currentText()
    if isinstance(control, QSpinBox | QDoubleSpinBox):
        value = control.value()
        return None if setting.declaration.zero_means_none and value == 0 else value
    raise TypeError(f"{type(control).__name__} is not a setting control")


class SettingsForm:
    """The controls of some settings of one config class, by field name. Not a widget: a panel
    places the controls in its own layout, or lets `add_rows` put them in a QFormLayout."""

    def __init__(self, config_cls: type, names: Sequence[str]) -> None:
        self.config_cls = config_cls
        declared = settings_of(config_cls)
        self.settings = {name: declared[name] for name in names}
        self.controls: dict[str, QWidget] = {name: setting_control(setting) for name, setting in self.settings.items()}

    def row_caption(self, name: str) -> str:
        """A checkbox's own text names it, so its row has no caption unless it is declared apart."""
        setting = self.settings[name]
        if setting.kind is bool and setting.declaration.box_text is None:
            return ""
        return setting.label

    def add_rows(self, layout: QFormLayout, names: Iterable[str] | None = None) -> None:
        for name in self.settings if names is None else names:
            layout.addRow(self.row_caption(name), self.controls[name])

    def connect_changes(self, slot: Callable[[], None]) -> None:
        """Call `slot` whenever the user (or `show_config`) changes any of the controls."""
        for control in self.controls.values():
            if isinstance(control, (QSpinBox, QDoubleSpinBox)):
                control.valueChanged.connect(lambda _value: slot())
            elif isinstance(control, QComboBox):
                control.currentTextChanged.connect(lambda _text: slot())
            elif isinstance(control, QCheckBox):
                control.toggled.connect(lambda _checked: slot())

    def values(self) -> dict[str, Any]:
        """The settings as the controls show them, ready for `config_cls(**values, ...)`."""
        return {name: control_value(setting, self.controls[name]) for name, setting in self.settings.items()}

    def show_config(self, config: Any) -> None:
        """Set every control to `config`'s value (a past run, before resuming it)."""
        for name, setting in self.settings.items():
            show_value(setting, self.controls[name], getattr(config, name))
