"""The one check of a request that the API, the worker and the CLI share: schema, limits, image headers."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from app.schemas import StyleTransferParams
from app.settings import Settings
from app.validation import (
    Images,
    InvalidParams,
    check_style_images,
    min_edge,
    needed_layers,
    validate_forecast_request,
    validate_style_request,
)


def png(size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, "white").save(buf, format="PNG")
    return buf.getvalue()


SETTINGS = Settings(max_size=512, max_iterations=1000, max_image_pixels=10_000, max_request_pixels=25_000)


def refused(raw: dict, content: bytes | None, styles: list[bytes], settings: Settings = SETTINGS) -> InvalidParams:
    with pytest.raises(InvalidParams) as info:
        validate_style_request(raw, settings, content, styles)
    return info.value


def test_a_request_within_the_limits_passes_and_comes_back_validated() -> None:
    params = validate_style_request({"size": "32", "iterations": "10"}, SETTINGS, png((64, 48)), [png((48, 48))])
    assert (params.size, params.iterations) == (32, 10)


def test_the_settings_limits_are_enforced_not_only_the_schema() -> None:
    assert refused({"iterations": 2_000}, png((64, 48)), [png((48, 48))]).field == "iterations"
    assert refused({"size": 1024}, png((64, 48)), [png((48, 48))]).field == "size"
    assert refused({"iterations": "many"}, png((64, 48)), [png((48, 48))]).field == "iterations"


def test_the_files_the_mode_needs_and_their_count() -> None:
    assert refused({}, None, [png((48, 48))]).field == "content"
    assert refused({}, png((64, 48)), []).field == "style"
    assert refused({}, png((16, 16)), [png((16, 16))] * 9).field == "style"
    assert refused({"style_blend": "1,2"}, png((64, 48)), [png((48, 48))]).field == "style_blend"
    assert refused({"mode": "content", "style_blend": "1"}, png((64, 48)), []).field == "style_blend"


def test_pixels_are_capped_per_image_and_per_request_from_the_headers() -> None:
    one = refused({}, png((200, 100)), [png((48, 48))])
    assert (one.field, one.status) == ("content", 413)
    total = refused({}, png((90, 90)), [png((90, 90)), png((90, 90)), png((90, 90))])
    assert total.status == 413 and "together" in total.message


def test_a_broken_image_names_its_field() -> None:
    broken = refused({}, png((64, 48))[:-20], [png((48, 48))])
    assert broken.field == "content" and broken.status == 422


@pytest.mark.parametrize(
    ("fields", "content", "smallest"),
    [
        ({}, (64, 48), 21),  # conv5_1 reads the output: 16 px on the short edge (21x16 at 4:3)
        ({}, (48, 48), 16),
        ({}, (200, 40), 78),
        ({"mode": "content", "content_layers": "conv2_2"}, (200, 40), 10),
        ({"mode": "content", "content_layers": "conv4_2"}, (400, 40), 75),
        ({"mode": "dream"}, (64, 48), 16),  # conv4_2: 8 px
        ({"sweep_style_layers": "conv1_1|conv1_1+conv2_1", "content_layers": "conv1_1"}, (64, 48), 16),
    ],
)
def test_the_smallest_size_follows_the_deepest_layer_and_the_aspect(
    fields: dict, content: tuple[int, int], smallest: int
) -> None:
    settings = Settings(max_request_pixels=10**9)
    sizes = Images(content, [(48, 48)])
    check_style_images(StyleTransferParams.model_validate({**fields, "size": max(16, smallest)}), settings, sizes)
    if smallest <= 16:  # the schema's floor
        return
    with pytest.raises(InvalidParams) as info:
        check_style_images(StyleTransferParams.model_validate({**fields, "size": smallest - 1}), settings, sizes)
    assert info.value.field == "size" and f"size >= {smallest}" in info.value.message


def test_min_edge_counts_the_poolings_before_a_layer() -> None:
    assert [min_edge(n) for n in ("conv1_1", "pool1", "conv2_1", "conv4_2", "conv5_1", "pool5")] == [1, 2, 2, 8, 16, 32]
    sweep = StyleTransferParams.model_validate({"sweep_style_layers": "conv1_1|conv1_1+conv2_1"})
    assert needed_layers(sweep) == ["conv4_2", "conv1_1", "conv1_1", "conv2_1"]


def test_a_dream_reads_its_sweeps_layers_or_the_modes_default() -> None:
    sweep = StyleTransferParams.model_validate({"mode": "dream", "sweep_content_layers": "conv2_1,conv5_1"})
    assert needed_layers(sweep) == ["conv2_1", "conv5_1"]
    assert needed_layers(StyleTransferParams.model_validate({"mode": "dream"})) == ["conv4_2"]
    with pytest.raises(InvalidParams) as info:  # 20x15: too small for conv5_1, the deepest tile's layer
        check_style_images(sweep.model_copy(update={"size": 20}), Settings(), Images((64, 48), []))
    assert info.value.field == "size" and "conv5_1" in info.value.message


def test_sweep_stacks_survive_the_round_trip_through_a_task_message() -> None:
    raw = StyleTransferParams.model_validate({"sweep_style_layers": "conv1_1|conv1_1+conv2_1"}).model_dump(mode="json")
    again = validate_style_request(raw, Settings(), png((64, 48)), [png((48, 48))])
    assert again.layer_stacks() == [["conv1_1"], ["conv1_1", "conv2_1"]]


def test_a_forecast_is_checked_by_its_schema() -> None:
    with pytest.raises(InvalidParams) as info:
        validate_forecast_request({"series": [[1.0]] * 400, "horizon": 5000}, Settings())
    assert info.value.field == "horizon"
