"""The API's validation constants agree with models/, which the API process must not import."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import get_args

import pytest
from pydantic import ValidationError

from app import schemas
from models.nst import modes, vgg
from models.nst.config import StyleConfig
from models.waves import forecast, generator
from workers.jobs import style_config


def test_layer_names_match_the_network() -> None:
    assert schemas.VGG19_LAYERS == tuple(vgg.LAYERS)


def test_the_original_waves_match_the_generator() -> None:
    assert [c.model_dump() for c in schemas.ORIGINAL_WAVES] == [asdict(w) for w in generator.ORIGINAL_WAVES]


@pytest.mark.parametrize(("edge", "algorithm"), [(schemas.Mode, modes.Mode), (schemas.Init, modes.Init)])
def test_edge_enums_mirror_the_algorithms(edge: type, algorithm: type) -> None:
    assert [(m.name, m.value) for m in edge] == [(m.name, m.value) for m in algorithm]


@pytest.mark.parametrize("mode", list(modes.Mode))
def test_what_each_mode_needs_agrees(mode: modes.Mode) -> None:
    edge = schemas.Mode(mode.value)
    assert (edge.needs_content, edge.needs_style) == (mode.needs_content, mode.needs_style)
    assert edge.default_init.value == mode.default_init.value


def test_literal_choices_match_the_algorithms_enums() -> None:
    fields = schemas.StyleTransferParams.model_fields
    for name, enum in (("optimizer", modes.Optimizer), ("precision", modes.Precision), ("pooling", modes.Pooling)):
        assert list(get_args(fields[name].annotation)) == [m.value for m in enum], name


@pytest.mark.parametrize("horizon", [1, 23, 40, 500, schemas.MAX_HORIZON])
def test_min_history_matches_the_forecaster(horizon: int) -> None:
    assert schemas.min_history(horizon) == forecast.min_history(horizon)


@pytest.mark.parametrize("horizon", [1, 12, 24, 500])
def test_a_series_of_max_24_or_2_horizons_is_enough_and_the_422_says_so(horizon: int) -> None:
    need = max(24, 2 * horizon)
    schemas.WaveForecastRequest.model_validate({"series": [[1.0]] * need, "horizon": horizon})
    with pytest.raises(ValidationError, match=f"at least {need} samples"):
        schemas.WaveForecastRequest.model_validate({"series": [[1.0]] * (need - 1), "horizon": horizon})


def test_season_length_and_timestamps() -> None:
    base = {"series": [[1.0]] * 48, "horizon": 2}
    for given, expected in ((12, [12.0]), ("24, 168", [24.0, 168.0]), ([7, "30.4"], [7.0, 30.4]), (None, None)):
        assert schemas.WaveForecastRequest.model_validate({**base, "season_length": given}).season_length == expected
    for bad in (1, "0,12", [2, 3, 4, 5], "x"):
        with pytest.raises(ValidationError, match="season_length"):
            schemas.WaveForecastRequest.model_validate({**base, "season_length": bad})
    ok = schemas.WaveForecastRequest.model_validate({**base, "timestamps": ["2024-01", "2024-02"]})
    assert ok.timestamps == ["2024-01", "2024-02"] and ok.model == "auto"
    with pytest.raises(ValidationError, match="timestamps"):
        schemas.WaveForecastRequest.model_validate({**base, "timestamps": ["2024-01"]})


def test_limits_are_within_the_models_limits() -> None:
    assert schemas.MAX_SEASON_LENGTHS == forecast.MAX_SEASON_LENGTHS
    assert list(get_args(schemas.ForecastModel)) == list(forecast.MODELS)
    assert schemas.MAX_HORIZON <= forecast.MAX_HORIZON
    assert schemas.MAX_HISTORY <= forecast.MAX_HISTORY
    assert schemas.MAX_CHANNELS <= forecast.MAX_CHANNELS
    assert schemas.MAX_SEED_STEPS <= forecast.MAX_SEED_STEPS


def test_comma_lists_and_layer_stacks() -> None:
    p = schemas.StyleTransferParams.model_validate(
        {"style_layers": "conv1_1, conv2_1", "sweep_style_layers": "conv1_1|conv1_1+conv2_1", "style_blend": "1,3"}
    )
    assert p.style_layers == ["conv1_1", "conv2_1"] and p.style_blend == [1.0, 3.0]
    assert p.layer_stacks() == [["conv1_1"], ["conv1_1", "conv2_1"]]
    with pytest.raises(ValidationError, match="conv9_9"):
        schemas.StyleTransferParams.model_validate({"content_layers": "conv9_9"})
    with pytest.raises(ValidationError, match="style_weight"):
        schemas.StyleTransferParams.model_validate({"style_weight": float("nan")})


def test_series_must_be_rectangular_and_finite() -> None:
    with pytest.raises(ValidationError, match="ragged"):
        schemas.WaveForecastRequest.model_validate({"series": [[1.0, 2.0]] * 100 + [[1.0]], "horizon": 5})
    with pytest.raises(ValidationError):
        schemas.WaveForecastRequest.model_validate({"series": [[float("inf")]] * 100, "horizon": 5})


def test_values_are_bounded_so_that_their_squares_stay_finite() -> None:
    big = schemas.MAX_VALUE
    schemas.WaveForecastRequest.model_validate({"series": [[big], [-big]] * 30, "horizon": 5})
    with pytest.raises(ValidationError, match="row 31 has a value beyond"):
        schemas.WaveForecastRequest.model_validate({"series": [[1.0]] * 31 + [[big * 10]] + [[1.0]] * 30})
    terms = [{"fn": "sin", "amplitude": big / 2, "period": 10}, {"fn": "cos", "amplitude": big, "period": 7}]
    with pytest.raises(ValidationError, match="amplitude"):
        schemas.WaveForecastRequest.model_validate({"waves": [{"offset": 0, "terms": terms}]})
    with pytest.raises(ValidationError, match="noise_std"):
        schemas.WaveForecastRequest.model_validate({"waves": [{"offset": 0}], "noise_std": big * 10})


@pytest.mark.parametrize("mode", list(modes.Mode))
def test_api_defaults_are_the_algorithms_defaults(mode: modes.Mode) -> None:
    api = schemas.StyleTransferParams(mode=schemas.Mode(mode.value))
    config = StyleConfig(mode=mode)
    shared = [f.name for f in fields(StyleConfig) if f.name in schemas.StyleTransferParams.model_fields]
    assert len(shared) >= 17
    for name in shared:
        # None at the edge means "the mode's default", which the algorithm's config fills in.
        assert getattr(api, name) in (None, getattr(config, name)), name
    assert style_config(api) == config


def test_the_apis_default_content_layer_is_every_modes() -> None:
    assert all(list(mode.defaults.content_layers) == schemas.DEFAULT_CONTENT_LAYERS for mode in modes.Mode)


def _shown(value: object) -> str:
    """A default as the API text writes it: 0 not 0.0, the first layer of a tuple."""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value[0]) if isinstance(value, tuple) else str(value)


@pytest.mark.parametrize("name", ["iterations", "scales", "content_layers", "tv_weight"])
def test_per_mode_defaults_are_stated_in_the_api_text(name: str) -> None:
    """A field whose default depends on the mode has none in the schema; its description says each mode's."""
    description = schemas.StyleTransferParams.model_fields[name].description or ""
    transfer = modes.Mode.transfer.defaults
    assert f"Default: {_shown(getattr(transfer, name))}" in description, description
    for mode in modes.Mode:
        value = getattr(mode.defaults, name)
        if value != getattr(transfer, name) or (name == "iterations" and mode.defaults.per_scale):
            assert f"{mode.value}: {_shown(value)}" in description, (mode, description)


def test_layer_weights_parse_from_a_form_field() -> None:
    p = schemas.StyleTransferParams.model_validate({"layer_weights": "conv1_1:2, conv5_1:0.5"})
    assert p.layer_weights == {"conv1_1": 2.0, "conv5_1": 0.5}
    for bad in ("conv1_1", "conv9_9:1", "conv1_1:-1", "conv1_1:x"):
        with pytest.raises(ValidationError, match="layer_weights"):
            schemas.StyleTransferParams.model_validate({"layer_weights": bad})
