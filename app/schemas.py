"""Request and response schemas: every field of a request is validated here, once, at the API edge."""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# The VGG-19 layer names of the paper: convX_Y is the rectified output of that convolution.
# models/nst/vgg.py holds the same tuple; tests/app/test_schemas.py checks that they agree.
# Laid out by hand, one row per block of the network, which the formatter would flatten to one per line.
VGG19_LAYERS: tuple[str, ...] = (
    "conv1_1", "conv1_2", "pool1",
    "conv2_1", "conv2_2", "pool2",
    "conv3_1", "conv3_2", "conv3_3", "conv3_4", "pool3",
    "conv4_1", "conv4_2", "conv4_3", "conv4_4", "pool4",
    "conv5_1", "conv5_2", "conv5_3", "conv5_4", "pool5",
)  # fmt: skip
DEFAULT_STYLE_LAYERS = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
# Every mode's content layer when a request leaves `content_layers` unset (models/nst/modes.py: MODE_DEFAULTS).
DEFAULT_CONTENT_LAYERS = ["conv4_2"]

# Wave-forecast limits (models/waves/forecast.py mirrors them; a test checks they agree).
MAX_HORIZON = 1000
MAX_HISTORY = 20_000
MAX_CHANNELS = 16
MAX_TERMS = 32
MAX_SEED_STEPS = 100_000
MAX_SEASON_LENGTHS = 3
# The largest magnitude of a series value, given or generated: about the square root of the largest float, so
# that squares, sums of squares and the plot's axes stay finite.
MAX_VALUE = 1e150


# The style-transfer choices. models/nst/modes.py holds the same enums (the API process must not import it);
# tests/app/test_schemas.py checks that they agree, members and properties.
class Init(StrEnum):
    """The start image."""

    content = "content"
    noise = "noise"
    style = "style"


class Mode(StrEnum):
    """transfer = content + style; content / style = one half alone (reconstruction); dream = DeepDream."""

    transfer = "transfer"
    content = "content"
    style = "style"
    dream = "dream"

    @property
    def needs_content(self) -> bool:
        """Whether a content image is required."""
        return self is not Mode.style

    @property
    def needs_style(self) -> bool:
        """Whether at least one style image is required."""
        return self in (Mode.transfer, Mode.style)

    @property
    def default_init(self) -> Init:
        """The start image when none is asked for: the content for transfer and dream, else noise."""
        return Init.content if self in (Mode.transfer, Mode.dream) else Init.noise


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    canceled = "canceled"

    @property
    def is_terminal(self) -> bool:
        return self in (JobStatus.succeeded, JobStatus.failed, JobStatus.canceled)


class JobKind(StrEnum):
    style_transfer = "style_transfer"
    wave_forecast = "wave_forecast"


class JobError(BaseModel):
    code: str = Field(description="`model_error` (bad input or numerics), `worker_lost`, `time_limit`, ...")
    message: str


class WorkerInfo(BaseModel):
    """Where a job runs: the host, the process, and the id its worker beats under (app/reaper.py)."""

    host: str
    pid: int
    heartbeat: str = ""


WebhookEvent = Literal["start", "progress", "completed"]


class WebhookDelivery(BaseModel):
    """The outcome of one webhook message, updated at each attempt."""

    id: str = Field(description="The `webhook-id` header: one per message, the same across its retries.")
    event: WebhookEvent
    status_code: int | None = Field(None, description="The receiver's last answer; null when it gave none.")
    attempts: int = 0
    delivered_at: float | None = Field(None, description="When a 2xx answer came; null until then.")


class Job(BaseModel):
    """A job record, as stored in Redis and returned by the API."""

    id: str
    kind: JobKind
    status: JobStatus
    progress: float = 0.0
    message: str = ""
    eta_seconds: float | None = Field(
        None, description="While running: the seconds left, estimated from the work done so far (progress is work)."
    )
    queue_position: int | None = None
    attempts: int = 0
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    worker: WorkerInfo | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    error: JobError | None = None
    links: dict[str, str] = Field(default_factory=dict)
    webhook: str | None = None
    webhook_events_filter: list[WebhookEvent] | None = None
    webhooks: list[WebhookDelivery] = Field(default_factory=list)
    owner: str = Field(default="", exclude=True)
    # Which task message may run the job: a requeue after a lost worker sends a new one and refuses the old.
    delivery: int = Field(default=0, exclude=True)


class JobList(BaseModel):
    jobs: list[Job]


def _split_list(value: Any) -> Any:
    """Accept `a,b,c`, repeated form fields, or a JSON list, and return a flat list of stripped items."""
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    out: list[Any] = []
    for item in items:
        if isinstance(item, str):
            out.extend(part.strip() for part in item.split(",") if part.strip())
        else:
            out.append(item)
    return out


def _check_layers(layers: list[str] | None) -> list[str] | None:
    if layers is None:
        return None
    if not layers:
        raise ValueError("must name at least one layer")
    unknown = [name for name in layers if name not in VGG19_LAYERS]
    if unknown:
        raise ValueError(f"unknown VGG-19 layer(s) {', '.join(unknown)}; known: {', '.join(VGG19_LAYERS)}")
    return layers


class WebhookFields(BaseModel):
    """`webhook` and `webhook_events_filter`, accepted by both POST endpoints (kept in the record, not in params)."""

    webhook: str | None = Field(
        None, max_length=2048, description="An http(s) URL that receives the job record, signed (Standard Webhooks)."
    )
    webhook_events_filter: list[WebhookEvent] | None = Field(
        None, description="Which events to send (comma list in forms): start, progress, completed. Default: all."
    )

    @field_validator("webhook_events_filter", mode="before")
    @classmethod
    def _split_events(cls, v: Any) -> Any:
        return _split_list(v)

    @field_validator("webhook")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = v.strip()
        scheme, sep, rest = v.partition("://")
        if not sep or scheme.lower() not in ("http", "https") or not rest.split("/")[0]:
            raise ValueError("must be an http or https URL")
        return v

    def webhook_fields(self) -> dict[str, Any]:
        return {"webhook": self.webhook, "webhook_events_filter": self.webhook_events_filter}


class StyleTransferParams(WebhookFields):
    """The form fields of `POST /v1/style-transfers` (the files `content` and `style` travel beside them)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    mode: Mode = Field(
        Mode.transfer, description="transfer = content + style; content / style = one half alone; dream = DeepDream"
    )
    size: int = Field(512, ge=16, description="Longest edge of the output in pixels (aspect kept).")
    iterations: int | None = Field(
        None, ge=1, description="Optimisation steps, across all scales. Default: 150; style: 250; dream: 5 per octave."
    )
    optimizer: Literal["lbfgs", "adam"] = "lbfgs"
    init: Init | None = Field(None, description="Start image; default: content for transfer/dream, noise otherwise.")
    content_weight: float = Field(1.0, ge=0, description="alpha, on the relative feature error")
    style_weight: float = Field(10.0, ge=0, description="beta, on the relative Gram-matrix error")
    content_layers: list[str] | None = Field(
        None, description="Comma list (mode=dream amplifies the first). Default: conv4_2."
    )
    style_layers: list[str] = Field(default_factory=lambda: list(DEFAULT_STYLE_LAYERS), description="Comma list.")
    style_blend: list[float] | None = Field(None, description="One weight per style image (comma list).")
    layer_weights: dict[str, float] | None = Field(
        None, description="Per-layer weights, e.g. `conv1_1:2,conv5_1:0.5` (layers not named weigh 1)."
    )
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="bf16 autocast for the network passes; auto = bf16 where the CPU has it natively."
    )
    tv_weight: float | None = Field(
        None, ge=0, description="Total-variation smoothing weight. Default: 0; content: 0.3."
    )
    preserve_colors: bool = Field(False, description="Keep the content's colours (luminance-only transfer).")
    pooling: Literal["max", "avg"] = "max"
    scales: int | None = Field(
        None,
        ge=1,
        le=8,
        description="Number of coarse-to-fine scales (x2 apart, ending at size; dream: octaves x1.4 apart). "
        "Default: 3; dream: 4.",
    )
    style_scale: float = Field(1.0, gt=0, le=4, description="Style image size relative to the output.")
    seed: int = Field(0, ge=0, le=2**32 - 1)
    sweep_style_weights: list[float] | None = Field(
        None, description="Sweep: one tile per style_weight (comma list, at most 16); the result is a grid PNG."
    )
    sweep_style_layers: list[str] | None = Field(
        None,
        description="Sweep: one tile per style-layer stack; stacks separated by `;` or `|`, layers by `+` "
        "(e.g. `conv1_1|conv1_1+conv2_1`).",
    )
    sweep_content_layers: list[str] | None = Field(
        None,
        description="Sweep: one tile per content layer (comma list, at most 16); with mode=dream, one dream per "
        "layer: shallow layers give strokes and textures, deep ones objects and eyes. Not with the style sweeps.",
    )
    dream_strength: float = Field(
        1.0, gt=0, le=8, description="mode=dream: scales the step, from 0.25 (subtle) to 4 (wild)."
    )

    @model_validator(mode="before")
    @classmethod
    def _drop_files(cls, data: Any) -> Any:
        # The form carries the `content` and `style` files beside these fields; any other unknown field
        # (a typo such as `style_wieght`) is still refused.
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in ("content", "style")}
        return data

    _split = field_validator(
        "content_layers", "style_layers", "style_blend", "sweep_style_weights", "sweep_content_layers", mode="before"
    )(lambda cls, v: _split_list(v))

    @field_validator("content_layers", "style_layers", "sweep_content_layers")
    @classmethod
    def _known_layers(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and len(v) > 16:
            raise ValueError("give at most 16 layers")
        return _check_layers(v)

    @field_validator("style_blend", "sweep_style_weights")
    @classmethod
    def _non_negative(cls, v: list[float] | None) -> list[float] | None:
        if v is None:
            return None
        if not v or len(v) > 16:
            raise ValueError("give between 1 and 16 values")
        if any(x < 0 or not math.isfinite(x) for x in v):
            raise ValueError("values must be finite and non-negative")
        return v

    @field_validator("layer_weights", mode="before")
    @classmethod
    def _layer_weights(cls, v: Any) -> Any:
        if v is None or isinstance(v, dict):
            return v
        weights: dict[str, float] = {}
        for item in _split_list(v):
            name, sep, value = str(item).partition(":")
            if not sep:
                raise ValueError(f"`{item}` is not layer:weight")
            try:
                weights[name.strip()] = float(value)
            except ValueError as exc:
                raise ValueError(f"`{value}` is not a number") from exc
        return weights

    @field_validator("layer_weights")
    @classmethod
    def _layer_weights_known(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v is None:
            return None
        _check_layers(list(v))
        if any(w < 0 or not math.isfinite(w) for w in v.values()):
            raise ValueError("weights must be finite and non-negative")
        return v

    @field_validator("sweep_style_layers", mode="before")
    @classmethod
    def _stacks(cls, v: Any) -> Any:
        if v is None:
            return None
        # A list (repeated form fields, or the validated params of a task message) holds whole stacks.
        raw = ";".join(str(item) for item in v) if isinstance(v, list) else str(v)
        stacks = [s.strip() for s in raw.replace("|", ";").split(";") if s.strip()]
        for stack in stacks:
            _check_layers(_stack_layers(stack))
        if not stacks or len(stacks) > 16:
            raise ValueError("give between 1 and 16 layer stacks")
        return stacks

    @model_validator(mode="after")
    def _blend_sum(self) -> StyleTransferParams:
        if self.style_blend is not None and sum(self.style_blend) <= 0:
            raise ValueError("style_blend must not be all zeros")
        return self

    @model_validator(mode="after")
    def _one_content_sweep(self) -> StyleTransferParams:
        if self.sweep_content_layers is None:
            return self
        if self.mode is Mode.style:
            raise ValueError("sweep_content_layers: needs a content image (mode transfer, content or dream)")
        if self.sweep_style_weights is not None or self.sweep_style_layers is not None:
            raise ValueError("sweep_content_layers: cannot be combined with sweep_style_weights/sweep_style_layers")
        return self

    def layer_stacks(self) -> list[list[str]] | None:
        """The sweep's style-layer stacks as lists of layer names."""
        if self.sweep_style_layers is None:
            return None
        return [_stack_layers(stack) for stack in self.sweep_style_layers]


def _stack_layers(stack: str) -> list[str]:
    """`conv1_1+conv2_1` -> its layers (a space also separates them: a `+` that a URL encoding turned into one)."""
    return stack.replace("+", " ").split()


class WaveTerm(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    fn: Literal["sin", "cos"]
    amplitude: float
    period: float = Field(gt=0, description="In steps.")
    phase: float = 0.0


class WaveChannel(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    offset: float = 0.0
    terms: list[WaveTerm] = Field(default_factory=list, max_length=MAX_TERMS)

    @model_validator(mode="after")
    def _bounded(self) -> WaveChannel:
        if abs(self.offset) + sum(abs(t.amplitude) for t in self.terms) > MAX_VALUE:
            raise ValueError(f"|offset| plus the terms' |amplitude| must be at most {MAX_VALUE:g}")
        return self


# The seed experiment's two channels (models/waves/generator.py holds the same; tests/app/test_schemas.py
# checks that they agree): what `stylewave forecast` runs when given no waves or series.
ORIGINAL_WAVES: tuple[WaveChannel, ...] = (
    WaveChannel(
        offset=5,
        terms=[
            WaveTerm(fn="sin", amplitude=5, period=300, phase=0.2),
            WaveTerm(fn="cos", amplitude=10, period=200, phase=0.7),
        ],
    ),
    WaveChannel(
        offset=7,
        terms=[
            WaveTerm(fn="sin", amplitude=7, period=200, phase=0.7),
            WaveTerm(fn="cos", amplitude=14, period=300, phase=0.2),
        ],
    ),
)

ForecastModel = Literal["auto", "lstm", "lstm-seed", "persistence", "ar", "harmonic"]


class WaveForecastRequest(WebhookFields):
    """`POST /v1/wave-forecasts`: either generated `waves` with `history`, or an observed `series`."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    waves: list[WaveChannel] | None = Field(None, min_length=1, max_length=MAX_CHANNELS)
    history: int = Field(3000, ge=1, le=MAX_HISTORY, description="Observed samples t = 0 .. history-1.")
    noise_std: float = Field(0.0, ge=0, description="Standard deviation of the noise added to generated waves.")
    series: list[list[float]] | None = Field(
        None, max_length=MAX_HISTORY, description="Rows of channels, oldest first."
    )
    horizon: int = Field(23, ge=1, le=MAX_HORIZON, description="Steps to forecast.")
    model: ForecastModel = Field(
        "auto",
        description="`auto` (the default): the backtest-weighted hybrid of the LSTM and the classical models; "
        "`lstm`: the LSTM alone on the seasonally adjusted series; `lstm-seed`: the original experiment's LSTM; "
        "`persistence`, `ar`, `harmonic`: one baseline. The result's `metrics` say which ran, and why.",
    )
    season_length: list[float] | None = Field(
        None,
        max_length=MAX_SEASON_LENGTHS,
        description="Seasonal periods in steps (one, or a list such as `[24, 168]`; comma-separated in forms "
        "and query strings). Detected from the autocorrelation when absent.",
    )
    timestamps: list[str] | None = Field(
        None,
        max_length=MAX_HORIZON,
        description="Labels of the forecast's steps (one per step), returned in the result as `timestamps`. "
        "A CSV with a timestamp column sets them to the steps that follow its last row.",
    )
    seed: int = Field(0, ge=0, le=2**32 - 1)
    lstm_seed_steps: int = Field(
        80_000, ge=1, le=MAX_SEED_STEPS, description="Training steps of `model=lstm-seed` (the original protocol)."
    )

    @field_validator("season_length", mode="before")
    @classmethod
    def _periods(cls, v: Any) -> Any:
        """One number, a list, or a comma list (forms and query strings) -> a list of periods."""
        return v if isinstance(v, bool) else _split_list(v)  # a bool stays one, for the list check to refuse

    @field_validator("timestamps", mode="before")
    @classmethod
    def _labels(cls, v: Any) -> Any:
        """A list, or a comma list (query strings, the CLI's --timestamps); ISO 8601 labels hold no commas."""
        return _split_list(v)

    @field_validator("noise_std")
    @classmethod
    def _noise_bounded(cls, v: float) -> float:
        if v > MAX_VALUE:
            raise ValueError(f"must be at most {MAX_VALUE:g}")
        return v

    @field_validator("season_length")
    @classmethod
    def _period_range(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and not all(2 <= p <= MAX_HISTORY / 2 for p in v):
            raise ValueError(f"each period must be between 2 and {MAX_HISTORY // 2} steps")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> WaveForecastRequest:
        if (self.waves is None) == (self.series is None):
            raise ValueError("give exactly one of `waves` (with `history`) or `series`")
        if self.series is not None:
            width = len(self.series[0]) if self.series else 0
            if width == 0 or width > MAX_CHANNELS:
                raise ValueError(f"series: rows must have between 1 and {MAX_CHANNELS} channels")
            for i, row in enumerate(self.series):
                if len(row) != width:
                    raise ValueError(f"series: row {i} has {len(row)} values, row 0 has {width} (ragged)")
                if any(abs(v) > MAX_VALUE for v in row):
                    raise ValueError(f"series: row {i} has a value beyond ±{MAX_VALUE:g}")
        length = len(self.series) if self.series is not None else self.history
        needed = min_history(self.horizon)
        if length < needed:
            field = "series" if self.series is not None else "history"
            raise ValueError(
                f"{field}: at least {needed} samples are needed for horizon {self.horizon} "
                f"(max(24, 2 x horizon)), got {length}"
            )
        if self.timestamps is not None and len(self.timestamps) != self.horizon:
            raise ValueError(f"timestamps: one per forecast step: {self.horizon}, got {len(self.timestamps)}")
        return self


def min_history(horizon: int) -> int:
    """The shortest history a forecast of `horizon` steps accepts: max(24, 2 x horizon).

    models.waves.forecast.min_history computes the same, which a test checks. Shorter than the LSTM needs, the
    classical models forecast alone (the metrics say so).
    """
    return max(24, 2 * horizon)
