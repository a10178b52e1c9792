"""Settings declared once on the config fields: read back, named per interface, and checked
by the configs themselves (`__post_init__`), whichever interface built them."""

from __future__ import annotations

import pytest

from galaxy_studio.distill.config import BufferConfig, DistillConfig, EvaluationProtocol
from galaxy_studio.distill.unsupervised_config import UnsupervisedConfig
from galaxy_studio.errors import UserError
from galaxy_studio.explore.embeddings import EmbedConfig
from galaxy_studio.model.config import TrainConfig
from galaxy_studio.model.errors import ModelError
from galaxy_studio.settings import (
    SettingError,
    changed_settings,
    changed_settings_text,
    control_label,
    humanised,
    labeller,
    option_flag,
    settings_of,
)

CONFIGS = (TrainConfig, BufferConfig, DistillConfig, EvaluationProtocol, UnsupervisedConfig, EmbedConfig)


def test_declared_settings_read_back_with_types_defaults_and_names() -> None:
    train = settings_of(TrainConfig)
    assert "data" not in train and "split" not in train, "only declared fields are settings"
    assert (train["epochs"].kind, train["epochs"].optional, train["epochs"].default) == (int, False, 100)
    assert (train["ema"].kind, train["ema"].optional, train["ema"].default) == (float, True, 0.99)
    assert train["bands"].kind is tuple and train["augment"].kind is bool
    assert train["crop_fraction"].flag == "--crop" and train["min_lr"].flag == "--min-lr"
    assert train["arch"].choices == ("galaxy-cnn", "galaxy-cnn-d4", "vgg11", "convnet-d3", "resnet18", "convnext-tiny")


@pytest.mark.parametrize("config_cls", CONFIGS)
def test_every_declared_default_is_the_field_default_and_has_help_and_label(config_cls: type) -> None:
    for setting in settings_of(config_cls).values():
        assert setting.help and setting.label, setting.name
        if setting.choices is not None and setting.default is not None:
            assert setting.default in setting.choices, setting.name


def test_a_hint_names_the_setting_by_flag_in_the_cli_and_by_label_in_the_gui() -> None:
    with pytest.raises(SettingError) as caught:
        TrainConfig(data="d", out_dir="o", crop_fraction=1.5)
    error = caught.value
    assert isinstance(error, UserError) and isinstance(error, ValueError)
    assert error.text(option_flag) == (
        "crop_fraction must be between 0.01 and 1, got 1.5; set --crop between 0.01 and 1"
    )
    assert error.text(control_label).endswith("set Crop fraction between 0.01 and 1")


def test_control_label_falls_back_to_a_readable_name() -> None:
    assert control_label("lr_img") == "Image lr"
    assert control_label("no_such_setting") == "No such setting" == humanised("no_such_setting")
    assert option_flag("no_such_setting") == "--no-such-setting"
    assert labeller(BufferConfig)("epochs") == "Epochs per expert"
    assert labeller(TrainConfig)("epochs") == "Epochs"


def test_choices_and_ranges_are_refused_at_construction() -> None:
    with pytest.raises(SettingError, match="device must be one of auto, cuda, mps, cpu"):
        BufferConfig(data="d", out_dir="o", device="tpu")
    with pytest.raises(SettingError, match="seed must be at least 0, got -1"):
        EvaluationProtocol(seed=-1)
    with pytest.raises(SettingError, match="arch must be one of"):
        BufferConfig(data="d", out_dir="o", arch="lenet")


def test_train_config_refuses_what_check_config_refused_with_the_same_words() -> None:
    with pytest.raises(ModelError, match="unknown architecture 'lenet'; choose from galaxy-cnn"):
        TrainConfig(data="d", out_dir="o", arch="lenet")
    with pytest.raises(ModelError, match="balance must be one of loss, sampler, none"):
        TrainConfig(data="d", out_dir="o", balance="oversample")
    with pytest.raises(ModelError, match=r"epochs and batch size must be at least 1 \(got 0, 64\)"):
        TrainConfig(data="d", out_dir="o", epochs=0)
    with pytest.raises(ModelError, match=r"0 < min_lr <= lr \(got 0.1, 0.01\)"):
        TrainConfig(data="d", out_dir="o", lr=0.01, min_lr=0.1)
    with pytest.raises(ModelError, match="weight-average decay must lie between 0 and 1"):
        TrainConfig(data="d", out_dir="o", ema=1.5)
    assert TrainConfig(data="d", out_dir="o", device="cuda").device == "cuda", "a missing GPU is the run's problem"


def test_evaluation_protocol_checks_itself() -> None:
    with pytest.raises(ModelError, match="at least 1 net, 2 epochs and 0 or more full-data epochs"):
        EvaluationProtocol(nets=0)
    assert EvaluationProtocol() == EvaluationProtocol(nets=5, epochs=1000, full_epochs=0, seed=0, device="auto")


def test_changed_settings_names_each_difference_once_in_name_order() -> None:
    recorded = {"width": None, "lr": 0.01, "zca": False}
    wanted = {"lr": 0.01, "width": 32, "zca": True, "smooth": 1.0}
    assert changed_settings(recorded, wanted) == [("smooth", None, 1.0), ("width", None, 32), ("zca", False, True)]
    assert changed_settings(wanted, dict(wanted)) == []


def test_changed_settings_text_names_the_differences_or_an_unreadable_record() -> None:
    assert changed_settings_text({"ipc": 1, "lr_img": 10.0}, {"ipc": 10, "lr_img": 10.0}) == "ipc 1 there, 10 asked"
    assert changed_settings_text(None, {"ipc": 10}) == "its settings are unreadable"
