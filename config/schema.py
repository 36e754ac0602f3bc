"""The one config schema every domain is written in (config/loader.py reads it).

A domain is a YAML file validated here before any component runs, so a typo or a
wrong type fails with the file, the field and the reason instead of deep inside Beam.
pydantic (v1, pinned by kfp 1.8) does the type checking; the cross-field rules that
only make sense for this product are validators below.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, root_validator, validator
from pydantic.fields import ModelField

from aet.config.kinds import KindConfigError, get_kind, kind_names
from aet.config.metrics import (
    DEFAULT_GAP_METRIC,
    DEFAULT_MONITOR,
    METRICS,
    Task,
    evaluation_metric_names,
    monitorable,
    training_metrics,
)

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DEFAULT_EPOCHS = 20


class _FieldError(ValueError):
    """A cross-field rule that fails on one field: `field_path` (dotted, relative to the
    model that raises it) is appended to pydantic's location in the error report."""

    def __init__(self, field_path: str, message: str) -> None:
        super().__init__(message)
        self.field_path = field_path


class _Strict(BaseModel):
    class Config:
        extra = "forbid"
        allow_mutation = False

    @validator("*", pre=True)
    def _whole_numbers_only(cls, value: object, field: ModelField) -> object:
        """pydantic v1 silently truncates 64.5 (or true) to an int; a config must say 64."""
        expected = field.outer_type_
        is_int_field = (
            isinstance(expected, type) and issubclass(expected, int) and expected is not bool
        )
        fractional = isinstance(value, float) and not value.is_integer()
        if is_int_field and (isinstance(value, bool) or fractional):
            raise ValueError(f"expected a whole number, got {value!r}")
        return value


class PackageData(_Strict):
    """A data file shipped inside an installed registry package (never imported)."""

    package: str
    file: str
    sha256: str | None = Field(
        None,
        regex=r"^[0-9a-f]{64}$",
        description="of the file, or of the folder (components/files.sha256_of); checked "
        "before a run reads the default data",
    )


class LabelRule(_Strict):
    """An image's class from its file name: the first rule whose pattern matches wins."""

    pattern: str = Field(..., description="regular expression searched in the file name")
    label: str

    @validator("pattern")
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from exc
        return pattern


class LogColumnsConfig(_Strict):
    """The columns of an interaction log (RecBole `.inter` headers carry a type after a
    colon, `user_id:token`; only the part before it is matched)."""

    user: str = "user_id"
    item: str = "item_id"
    rating: str = "rating"
    timestamp: str = "timestamp"


class DataConfig(_Strict):
    format: str = Field(
        "csv",
        description="the data kind (kinds/): csv: table rows in CSV or Parquet files; "
        "images: an image folder or a MedMNIST .npz; interactions: a log of (user, item, "
        "rating, time), .inter/.tsv or .csv; or a kind another package registers",
    )
    default: PackageData | str = Field(
        ..., description="package+file, or a path relative to the config file"
    )
    default_set: list[str] = Field(
        [],
        description="FIELD=VALUE overrides that apply only when a run uses the default data "
        "(a tiny embedded sample needs other splits and gates than real data)",
    )
    default_note: str = Field(
        "", description="what a run on the default data shows; printed and in the summary"
    )
    label_rules: list[LabelRule] = Field(
        [], description="images: classes from file names; empty: from class sub-folders"
    )
    max_bad_share: float = Field(
        0.0, ge=0, lt=1, description="images: share of undecodable files tolerated"
    )
    columns: LogColumnsConfig = LogColumnsConfig()
    min_interactions: int = Field(
        5, ge=3, description="interactions: users with fewer are counted and skipped"
    )
    schema_file: str | None = Field(
        None, description="curated schema.pbtxt (relative to the config); inferred if absent"
    )
    splits: dict[str, float] = {"train": 0.7, "eval": 0.15, "test": 0.15}
    window: int = Field(
        1,
        ge=1,
        description="spans a run trains on: the newest and the ones before it (TFX's rolling "
        "range over the output's spans); the Evaluator scores the newest span alone",
    )

    @validator("format")
    def _registered(cls, name: str) -> str:
        if name not in kind_names():
            raise ValueError(f"unknown data kind '{name}'; choose one of {kind_names()}")
        return name

    @validator("splits")
    def _splits_sum_to_one(cls, splits: dict[str, float]) -> dict[str, float]:
        missing = {"train", "eval"} - set(splits)
        if missing:
            raise ValueError(f"must contain the splits {sorted(missing)}")
        if any(share <= 0 for share in splits.values()):
            raise ValueError("every split share must be > 0")
        if not math.isclose(sum(splits.values()), 1.0, abs_tol=1e-6):
            raise ValueError(f"shares must sum to 1, they sum to {sum(splits.values()):g}")
        if any(round(share * 100) < 1 for share in splits.values()):
            raise ValueError("each share must be at least 0.01")
        return splits


class LabelConfig(_Strict):
    name: str
    classes: list[str] = Field(
        ...,
        min_items=2,
        description="label values in index order; for two classes the second is the positive one",
    )

    @validator("classes", pre=True, each_item=True)
    def _as_text(cls, value: object) -> str:
        if isinstance(value, bool):  # YAML reads unquoted yes/no/true/false as booleans
            raise ValueError(f"YAML read this class as the boolean {value}: quote it, e.g. 'yes'")
        return str(value)

    @validator("classes")
    def _unique(cls, classes: list[str]) -> list[str]:
        if len(set(classes)) != len(classes):
            raise ValueError("class values must be unique")
        return classes


class BucketConfig(_Strict):
    """A derived categorical feature (e.g. an age band) used for slicing evaluation."""

    name: str
    source: str
    boundaries: list[float] = Field(..., min_items=1)

    @validator("boundaries")
    def _increasing(cls, boundaries: list[float]) -> list[float]:
        if any(b >= a for a, b in zip(boundaries[1:], boundaries, strict=False)):
            raise ValueError("boundaries must be strictly increasing")
        return boundaries


class ImageConfig(_Strict):
    """The image feature: encoded PNG/JPEG bytes, decoded and resized by Transform."""

    name: str = "image"
    height: int = Field(28, ge=8, le=1024, description="pixels the model sees")
    width: int = Field(28, ge=8, le=1024)
    channels: Literal[1, 3] = Field(1, description="1: grey, 3: RGB (images are converted)")
    # An image is checked against both from its header, before it is decoded
    # (kinds/image/limits.py); 25 megapixels is a 5000x5000 scan, about 300 MB as floats.
    max_pixels: int = Field(
        25_000_000, ge=64, le=178_956_970, description="most pixels an image may declare"
    )
    max_bytes: int = Field(
        32 * 1024 * 1024, ge=1024, description="largest encoded image file, in bytes"
    )

    @validator("max_pixels")
    def _room_for_warmup_images(cls, max_pixels: int, values: dict) -> int:
        """The warm-up images are twice the model's size a side (kinds/image/synthetic.py)."""
        needed = 4 * values.get("height", 0) * values.get("width", 0)
        if max_pixels < needed:
            raise ValueError(f"must be at least 4 x height x width ({needed})")
        return max_pixels


class SequenceConfig(_Strict):
    """A recommendation domain's input: each user's item history, ingested from an
    interaction log (config/contract.py names the features)."""

    max_length: int = Field(50, ge=2, le=1000, description="most recent items the model reads")


class FeaturesConfig(_Strict):
    label: LabelConfig | None = Field(None, description="required unless features.sequence")
    numeric: list[str] = []
    categorical: list[str] = []
    buckets: list[BucketConfig] = []
    image: ImageConfig | None = None
    sequence: SequenceConfig | None = None

    @root_validator(skip_on_failure=True)
    def _consistent(cls, values: dict) -> dict:
        numeric, categorical, image = values["numeric"], values["categorical"], values["image"]
        if values["sequence"] is not None:
            if numeric or categorical or values["buckets"] or image or values["label"]:
                raise _FieldError(
                    "sequence",
                    "a recommendation domain takes no label, numeric, categorical, bucket or "
                    "image features: the target is each history's next item",
                )
            return values
        if values["label"] is None:
            raise _FieldError("label", "field required")
        if image is not None and (numeric or categorical or values["buckets"]):
            raise _FieldError(
                "image", "an image domain takes no numeric, categorical or bucket features"
            )
        if not numeric and not categorical and image is None:
            raise ValueError("at least one numeric, categorical or image feature is required")
        names = numeric + categorical + [values["label"].name] + ([image.name] if image else [])
        seen: set[str] = set()
        for section, listed in (("numeric", numeric), ("categorical", categorical)):
            for name in listed:
                if name in seen or name == values["label"].name:
                    raise _FieldError(section, f"feature '{name}' is listed twice")
                seen.add(name)
        bad = [n for n in names + [b.name for b in values["buckets"]] if not _IDENTIFIER.match(n)]
        if bad:
            raise ValueError(f"feature names must be identifiers: {bad}")
        for index, bucket in enumerate(values["buckets"]):
            if bucket.source not in numeric:
                raise _FieldError(
                    f"buckets.{index}.source",
                    f"bucket '{bucket.name}': source '{bucket.source}' is not a numeric feature",
                )
            if bucket.name in names:
                raise _FieldError(
                    f"buckets.{index}.name", f"bucket '{bucket.name}' clashes with a feature name"
                )
        return values

    @property
    def input_names(self) -> list[str]:
        return self.numeric + self.categorical


class AugmentationConfig(_Strict):
    """Random changes applied to training images only (the model's ImageAugmentation
    layer, a no-op at inference); 0 or false switches one off."""

    horizontal_flip: bool = Field(False, description="mirror left-right (not for anatomy)")
    rotation: float = Field(0.03, ge=0, le=0.5, description="largest turn, in full turns")
    contrast: float = Field(0.1, ge=0, lt=1, description="largest contrast change factor")
    translation: float = Field(0.05, ge=0, lt=1, description="largest shift, share of a side")


class ModelConfig(_Strict):
    architecture: str | None = Field(
        None,
        description="one the data kind offers (ft_transformer, logistic_regression or "
        "wide_and_deep for tabular data, attention_cnn for images, sasrec for item "
        "histories); default: the kind's first",
    )
    embedding_dim: int = Field(32, gt=0)
    num_layers: int = Field(2, gt=0)
    num_heads: int = Field(4, gt=0)
    ffn_multiplier: float = Field(2.0, gt=0)
    dropout: float = Field(0.1, ge=0, lt=1)
    attention_dropout: float = Field(0.1, ge=0, lt=1)
    conv_filters: list[int] = Field(
        [16, 32],
        min_items=1,
        description="attention_cnn: one conv + attention block per entry, each halving the size",
    )
    augmentation: AugmentationConfig = AugmentationConfig()

    @validator("conv_filters", each_item=True)
    def _positive(cls, filters: int) -> int:
        if filters <= 0:
            raise ValueError("must be > 0")
        return filters

    @root_validator(skip_on_failure=True)
    def _heads_divide_width(cls, values: dict) -> dict:
        if values["embedding_dim"] % values["num_heads"]:
            raise _FieldError(
                "embedding_dim",
                f"embedding_dim ({values['embedding_dim']}) must be divisible by "
                f"num_heads ({values['num_heads']})",
            )
        return values


class LearningRateConfig(_Strict):
    """Warm-up over the first training batches, then cuts when the monitor plateaus."""

    warmup_steps: int = Field(0, ge=0, description="batches to ramp up to the base rate")
    factor: float = Field(0.5, gt=0, lt=1, description="multiplies the rate at each cut")
    patience: int = Field(3, ge=1, description="epochs without improvement before a cut")
    cooldown: int = Field(0, ge=0, description="epochs after a cut that are not counted")
    min_learning_rate: float = Field(1e-5, ge=0)
    restore_best_on_cut: bool = Field(False, description="go back to the best epoch's weights")


class EarlyStoppingConfig(_Strict):
    patience: int = Field(6, ge=1)


class AttentionMonitorConfig(_Strict):
    """Per-head attention entropy (0: one token, 1: all tokens alike) and its alarms."""

    collapse_below: float = Field(0.05, ge=0, lt=1)
    uniform_above: float = Field(0.98, gt=0, le=1)
    probe_examples: int = Field(64, gt=0, description="eval examples the entropy is read on")

    @root_validator(skip_on_failure=True)
    def _ordered(cls, values: dict) -> dict:
        if values["collapse_below"] >= values["uniform_above"]:
            raise _FieldError("collapse_below", "must be below uniform_above")
        return values


class RegularisationConfig(_Strict):
    """Dropout that follows the train/validation gap of `metric` (a training metric of
    config/metrics.py)."""

    metric: str | None = Field(
        None,
        description="gap = train - val (val - train for a loss); default: the task's "
        "(auc for binary labels, accuracy for multi-class, loss for recommenders)",
    )
    widen_above: float = Field(0.05, description="raise dropout when the gap stays above")
    narrow_below: float = Field(
        -0.03, description="lower dropout when the gap stays below (training runs with dropout)"
    )
    patience: int = Field(2, ge=1, description="epochs the gap must stay out of range")
    settle_epochs: int = Field(5, ge=0, description="first epochs whose gap is not judged")
    step: float = Field(0.05, gt=0, lt=1)
    min_rate: float = Field(0.0, ge=0, lt=1)
    max_rate: float = Field(0.5, gt=0, lt=1)
    weight_decay_factor: float = Field(
        1.0, ge=1, description="weight decay multiplied (divided) with each raise (cut); 1: fixed"
    )
    min_weight_decay: float = Field(0.0, ge=0)
    max_weight_decay: float = Field(0.1, ge=0)

    @root_validator(skip_on_failure=True)
    def _ordered(cls, values: dict) -> dict:
        if values["narrow_below"] >= values["widen_above"]:
            raise _FieldError("narrow_below", "must be below widen_above")
        if values["min_rate"] > values["max_rate"]:
            raise _FieldError("min_rate", "must not exceed max_rate")
        if values["min_weight_decay"] > values["max_weight_decay"]:
            raise _FieldError("min_weight_decay", "must not exceed max_weight_decay")
        return values


class ResumeConfig(_Strict):
    """Checkpoints a killed or preempted Trainer resumes from when it starts again."""

    every_epochs: int = Field(1, ge=1, description="epochs between checkpoints")
    keep: int = Field(2, ge=1, description="complete checkpoints kept (the newest first)")


class UnfreezingConfig(_Strict):
    """Stages of a warm-started model: head first, then earlier layers (see
    components/elastic/unfreezing.py); only used when training.warm_start is on."""

    schedule: Literal["epochs", "plateau"] = Field("epochs", description="what ends a stage")
    every_epochs: int = Field(2, ge=1, description="epochs per stage on the epochs schedule")
    patience: int = Field(2, ge=1, description="epochs without improvement, plateau schedule")
    rate_decay: float = Field(
        0.5, gt=0, le=1, description="each earlier group trains at this times the next's rate"
    )


class ElasticConfig(_Strict):
    """Callbacks that adapt training, and the checkpoints that let it resume."""

    monitor: str | None = Field(
        None,
        description="what the callbacks watch (val_NAME or NAME of a training metric); "
        "default: the task's (val_auc for binary labels, val_accuracy for multi-class, "
        "val_ndcg for recommenders)",
    )
    learning_rate: LearningRateConfig | None = LearningRateConfig()
    early_stopping: EarlyStoppingConfig | None = EarlyStoppingConfig()
    attention_monitor: AttentionMonitorConfig | None = AttentionMonitorConfig()
    regularisation: RegularisationConfig | None = None
    unfreezing: UnfreezingConfig | None = UnfreezingConfig()
    resume: ResumeConfig | None = ResumeConfig()


class TrainingConfig(_Strict):
    batch_size: int = Field(64, gt=0)
    epochs: int | None = Field(
        None,
        gt=0,
        description="how long to train; default 20 unless train_steps says it in steps",
    )
    train_steps: int | None = Field(
        None, gt=0, description="how long to train in batches, instead of epochs"
    )
    steps_per_epoch: int | None = Field(
        None, gt=0, description="batches per epoch; default: the training split once over"
    )
    eval_steps: int | None = Field(
        None, gt=0, description="validation batches per epoch; default: the whole eval split"
    )
    learning_rate: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    class_weight: Literal["balanced", "none"] = "balanced"
    sampled_softmax: int = Field(
        100,
        ge=0,
        description="sasrec: negatives sampled per batch for the softmax (log-uniform over "
        "the frequency-ordered vocabulary); 0: full softmax over the catalogue",
    )
    seed: int = 42
    warm_start: Literal["new_span", "always", "never"] = Field(
        "new_span",
        description="start from a trained model's weights: the served one's on each new "
        "span after an output's first (new_span); the served, else the last blessed, "
        "one's on every run (always, or true); or never (false)",
    )
    warm_start_share: float = Field(
        0.5,
        gt=0,
        le=1,
        description="a warm-started run trains this share of the epochs: it starts from "
        "a trained model, not from nothing",
    )
    elastic: ElasticConfig = ElasticConfig()

    @validator("warm_start", pre=True)
    def _warm_start_word(cls, value: object) -> object:
        """YAML's true and false, as the field's words."""
        if isinstance(value, bool):
            return "always" if value else "never"
        return value

    @root_validator(skip_on_failure=True)
    def _one_length(cls, values: dict) -> dict:
        if values["epochs"] is not None and values["train_steps"] is not None:
            raise _FieldError(
                "epochs", "give epochs or train_steps, not both: each says how long to train"
            )
        return values

    @property
    def planned_epochs(self) -> int:
        """`epochs`, or its default when the config says nothing of how long to train
        (with `train_steps` the epochs follow from the steps per epoch instead)."""
        return self.epochs or DEFAULT_EPOCHS


class Bound(_Strict):
    lower: float | None = None
    upper: float | None = None

    @root_validator(skip_on_failure=True)
    def _one_side(cls, values: dict) -> dict:
        if values["lower"] is None and values["upper"] is None:
            raise ValueError("give lower, upper or both")
        return values


class ChangeThreshold(_Strict):
    direction: Literal["higher_is_better", "lower_is_better"] | None = Field(
        None, description="default: the metric's own (config/metrics.py)"
    )
    absolute: float = Field(..., description="allowed change vs the blessed baseline")


def _declared_metric(name: str) -> str:
    if name not in evaluation_metric_names():
        raise ValueError(
            f"unexpected value '{name}'; permitted: {', '.join(evaluation_metric_names())}"
        )
    return name


class DriftConfig(_Strict):
    """How far a new span's feature distributions may move from the previous span's
    before the run calls it drifted (TFX's DistributionValidator, TFDV's comparators)."""

    policy: Literal["retrain", "stop"] = Field(
        "retrain",
        description="a drifted span: retrain on it (the drift is reported), or stop the run "
        "before training (nothing is trained or pushed)",
    )
    numeric: float = Field(
        0.1, gt=0, le=1, description="default Jensen-Shannon divergence allowed for a number"
    )
    categorical: float = Field(
        0.1, gt=0, le=1, description="default L-infinity distance allowed for a category"
    )
    thresholds: dict[str, float] = Field(
        {}, description="per feature (or the label): its own threshold instead of the default"
    )

    @validator("thresholds")
    def _in_range(cls, thresholds: dict[str, float]) -> dict[str, float]:
        for name, value in thresholds.items():
            if not 0 < value <= 1:
                raise ValueError(f"{name}: a threshold is a distance in (0, 1], not {value}")
        return thresholds


class EvaluationConfig(_Strict):
    metrics: list[str] = Field(..., min_items=1)
    baseline: Literal["served", "none"] = Field(
        "served",
        description="what a new model must be no worse than: 'served', the newest version "
        "under --serving-dir (else the latest model blessed in this output); 'none', its "
        "thresholds alone (change_thresholds do not apply), and a blessed model replaces "
        "what is served (for a served model this config cannot score: other features or "
        "another label)",
    )
    thresholds: dict[str, Bound] = {}
    change_thresholds: dict[str, ChangeThreshold] = {}
    slices: list[list[str]] = []
    confidence_intervals: Literal["bootstrap", "jackknife", "none"] = Field(
        "bootstrap",
        description="95 % intervals on every metric, overall and per slice, in the summary, "
        "the report and the model card: TFMA's Poisson bootstrap (20 resamples), its "
        "delete-d jackknife (20 buckets, cheaper on large splits), or none. Thresholds "
        "gate the point estimate either way",
    )
    decision_threshold: float = Field(0.5, gt=0, lt=1)
    per_class: bool = Field(
        False, description="also report each class's one-vs-rest metrics (multi-class labels)"
    )
    heat_maps: int = Field(
        8, ge=0, description="image domains: test images saved with a Grad-CAM overlay"
    )
    explained_examples: int = Field(
        200,
        ge=0,
        description="held-out examples the served `explain` signature is asked about for the "
        "run's global view (mean |attribution| per feature, per-class average heat maps) in "
        "the summary, the report and the model card; 0: none",
    )
    cutoff: int = Field(10, ge=1, description="ranking: the k of HR@k, NDCG@k and coverage")
    sampled_negatives: int = Field(
        100, ge=1, description="ranking: negatives per user in the *_sampled metrics"
    )
    exclude_seen: bool = Field(
        True,
        description="ranking: items in the user's history are not ranked (turn off for logs "
        "where users repeat items: there the target can be one of them)",
    )

    _metrics_declared = validator("metrics", each_item=True, allow_reuse=True)(_declared_metric)

    @root_validator(skip_on_failure=True)
    def _thresholds_on_computed_metrics(cls, values: dict) -> dict:
        for section in ("thresholds", "change_thresholds"):
            unknown = sorted(set(values[section]) - set(values["metrics"]))
            if unknown:
                raise _FieldError(section, f"names metrics not in 'metrics': {unknown}")
        changes = {}
        for name, change in values["change_thresholds"].items():
            if change.direction is None:
                direction = METRICS[name].direction if name in METRICS else None
                if direction is None:
                    raise _FieldError(
                        f"change_thresholds.{name}.direction",
                        f"'{name}' has no direction of its own: give higher_is_better "
                        "or lower_is_better",
                    )
                change = change.copy(update={"direction": direction})
            changes[name] = change
        values["change_thresholds"] = changes
        if not values["thresholds"]:
            raise _FieldError(
                "thresholds",
                "give at least one, e.g. {auc: {lower: 0.6}}: TFX's Evaluator blesses a model "
                "(and the Pusher pushes it) only when it passes a configured threshold",
            )
        return values


class ServingCheckConfig(_Strict):
    """The in-process serving check between the Evaluator and the Pusher."""

    warmup_examples: int = Field(
        8, ge=1, le=100, description="held-out examples the warm-up requests are built from"
    )
    latency_budget_ms: float = Field(
        250.0, gt=0, description="p99 of one-example serving_default requests, in process"
    )


class BatchingConfig(_Strict):
    """TF Serving's batching parameters file (--enable_batching): fields of its
    BatchingParameters proto."""

    max_batch_size: int = Field(64, ge=1)
    batch_timeout_micros: int = Field(2000, ge=0)
    num_batch_threads: int = Field(4, ge=1)
    max_enqueued_batches: int = Field(100, ge=1)


class ServingConfig(_Strict):
    model_name: str
    top_k: int = Field(10, ge=1, description="ranking: items a recommendation returns")
    versions: int = Field(
        2, ge=1, description="latest versions TF Serving keeps loaded (models.config policy)"
    )
    server_root: str = Field(
        "/models", description="where the model server sees the serving folder (models.config)"
    )
    explanation_steps: int = Field(
        64,
        ge=2,
        le=256,
        description="tabular `explain`: integrated-gradient steps (more: "
        "attributions closer to summing to the probability's change; each step is one "
        "more pass of the model)",
    )
    reasons: int = Field(
        3,
        ge=1,
        le=20,
        description="explanations: the reasons named per answer (the features that pushed a "
        "tabular probability up and down most; the history items behind each recommendation)",
    )
    check: ServingCheckConfig = ServingCheckConfig()
    batching: BatchingConfig = BatchingConfig()

    @validator("model_name")
    def _path_safe(cls, name: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
            raise ValueError("use lower-case letters, digits, '_' and '-' only")
        return name


# What a search space may tune: the config section each lives in, and its type.
TUNABLE = {
    "embedding_dim": ("model", int),
    "num_layers": ("model", int),
    "num_heads": ("model", int),
    "dropout": ("model", float),
    "attention_dropout": ("model", float),
    "learning_rate": ("training", float),
    "weight_decay": ("training", float),
    "batch_size": ("training", int),
}


def tunable_values(values: Mapping[str, object]) -> dict[str, object]:
    """keras-tuner's values of a trial without its own bookkeeping (Hyperband's
    `tuner/epochs`, `tuner/trial_id`, ...)."""
    return {name: value for name, value in values.items() if name in TUNABLE}


class SearchDimension(_Strict):
    """One hyperparameter's candidates: `choices`, or a range from `min` to `max`
    (stepped by `step`, or sampled on a log scale with `log`)."""

    choices: list[float] | None = Field(None, min_items=1)
    min: float | None = None
    max: float | None = None
    step: float | None = Field(None, gt=0)
    log: bool = False

    @root_validator(skip_on_failure=True)
    def _choices_or_range(cls, values: dict) -> dict:
        ranged = values["min"] is not None or values["max"] is not None
        if values["choices"] is not None:
            if ranged or values["step"] is not None or values["log"]:
                raise ValueError("give either choices or min/max (with step or log), not both")
            return values
        if values["min"] is None or values["max"] is None:
            raise ValueError("give choices, or both min and max")
        if values["min"] >= values["max"]:
            raise _FieldError("max", f"must be above min ({values['min']})")
        if values["log"] and values["step"] is not None:
            raise _FieldError("log", "a range is either stepped or on a log scale, not both")
        if values["log"] and values["min"] <= 0:
            raise _FieldError("min", "must be > 0 on a log scale")
        return values

    def extremes(self) -> list[float]:
        """The values that bound what the tuner may pick (checked against the config)."""
        return list(self.choices) if self.choices is not None else [self.min, self.max]

    def values(self) -> list[float] | None:
        """Every value the tuner may pick, where there are finitely many."""
        if self.choices is not None:
            return list(self.choices)
        if self.step is None:
            return None
        count = int((self.max - self.min) // self.step) + 1
        return [self.min + index * self.step for index in range(count)]


class TuningConfig(_Strict):
    """keras-tuner through TFX's Tuner component: what to search and how long."""

    enabled: bool = Field(False, description="or `aet run --tune`")
    strategy: Literal["random", "bayesian", "hyperband"] = "random"
    objective: str | None = Field(
        None,
        description="the validation metric trials are ranked by (val_NAME); "
        "default: training.elastic.monitor",
    )
    search_space: dict[str, SearchDimension] = Field(
        {}, description=f"hyperparameter -> candidates; tunable: {sorted(TUNABLE)}"
    )
    max_trials: int = Field(6, ge=1, description="random and bayesian: models tried")
    epochs_per_trial: int = Field(5, ge=1, description="hyperband: the most a trial trains")
    max_wall_clock_s: float = Field(
        900.0, gt=0, description="the search stops starting trials after this long"
    )
    median_stop_after: int | None = Field(
        3,
        ge=1,
        description="random and bayesian: from this epoch on, a trial whose best objective"
        " is worse than the median of the finished trials' running averages stops (null: off)",
    )
    reuse_last: bool = Field(
        False, description="untuned runs take the last tuned hyperparameters, if any"
    )

    @validator("search_space")
    def _known_and_typed(cls, space: dict[str, SearchDimension]) -> dict:
        for name, dimension in space.items():
            if name not in TUNABLE:
                raise _FieldError(name, f"cannot be tuned; choose from {sorted(TUNABLE)}")
            if TUNABLE[name][1] is int:
                numbers = [*dimension.extremes(), *([dimension.step] if dimension.step else [])]
                if any(not float(number).is_integer() for number in numbers):
                    raise _FieldError(name, f"{name} takes whole numbers")
        return space

    @root_validator(skip_on_failure=True)
    def _something_to_search(cls, values: dict) -> dict:
        if values["enabled"] and not values["search_space"]:
            raise _FieldError("search_space", "tuning is on but nothing is searched")
        return values


def _check_search_space(tuning: TuningConfig, model: ModelConfig, training: TrainingConfig) -> None:
    """Every value the tuner may pick is a valid config: each bound passes its field's
    own rules, and every width it may pick divides by every head count."""
    sections = {"model": model, "training": training}
    for name, dimension in tuning.search_space.items():
        section = sections[TUNABLE[name][0]]
        for value in dimension.extremes():
            cast = TUNABLE[name][1](value)
            try:
                type(section)(**{**section.dict(), name: cast})
            except ValidationError as exc:
                reason = next(
                    (error["msg"] for error in exc.errors() if error["loc"][:1] == (name,)), None
                )
                if reason is not None:
                    raise _FieldError(
                        f"tuning.search_space.{name}", f"{value!r} is not a valid {name}: {reason}"
                    ) from exc
    space = tuning.search_space
    widths = space["embedding_dim"].values() if "embedding_dim" in space else [model.embedding_dim]
    heads = space["num_heads"].values() if "num_heads" in space else [model.num_heads]
    if widths is None or heads is None:
        raise _FieldError(
            "tuning.search_space",
            "embedding_dim and num_heads need choices or a step: every width must divide by "
            "every head count",
        )
    for width in widths:
        for count in heads:
            if int(width) % int(count):
                raise _FieldError(
                    "tuning.search_space.num_heads",
                    f"embedding_dim {int(width)} is not divisible by num_heads {int(count)}",
                )


class DomainConfig(_Strict):
    name: str
    description: str = ""
    data: DataConfig
    features: FeaturesConfig
    model: ModelConfig = ModelConfig()
    training: TrainingConfig = TrainingConfig()
    evaluation: EvaluationConfig
    serving: ServingConfig
    tuning: TuningConfig = TuningConfig()
    drift: DriftConfig = DriftConfig()
    source_dir: Path = Field(
        Path("."), description="set by the loader: the folder holding the config file"
    )

    @root_validator(skip_on_failure=True)
    def _cross_section(cls, values: dict) -> dict:
        features: FeaturesConfig = values["features"]
        evaluation: EvaluationConfig = values["evaluation"]
        sliceable = set(features.input_names) | {b.name for b in features.buckets}
        for spec in evaluation.slices:
            unknown = sorted(set(spec) - sliceable)
            if unknown:
                raise _FieldError("evaluation.slices", f"unknown features {unknown}")
        _check_kind(values)
        unknown = sorted(
            set(values["drift"].thresholds)
            - set(features.input_names)
            - {features.label.name if features.label else ""}
        )
        if unknown:
            raise _FieldError("drift.thresholds", f"unknown features {unknown}")
        task = _task(features)
        _check_metrics_fit_task(task, features, evaluation)
        values["training"] = training = _with_task_defaults(values["training"], task)
        validation_metrics = [f"val_{name}" for name in training_metrics(task)]
        watchable = monitorable(task)
        elastic = training.elastic
        if elastic.monitor not in watchable:
            raise _FieldError(
                "training.elastic.monitor",
                f"'{elastic.monitor}' is not computed when training a {task} model; "
                f"choose one of {watchable}",
            )
        if elastic.regularisation and elastic.regularisation.metric not in watchable:
            raise _FieldError(
                "training.elastic.regularisation.metric",
                f"'{elastic.regularisation.metric}' is not computed on both splits when "
                f"training a {task} model; choose one of "
                f"{[name for name in watchable if not name.startswith('val_')]}",
            )
        objective = values["tuning"].objective
        if objective is not None and objective not in validation_metrics:
            raise _FieldError(
                "tuning.objective",
                f"'{objective}' is not a validation metric of a {task} model; choose one of "
                f"{validation_metrics}",
            )
        _check_search_space(values["tuning"], values["model"], values["training"])
        return values

    def with_hyperparameters(self, values: Mapping[str, object]) -> DomainConfig:
        """This config with tuned `values` (TUNABLE names) set in their sections,
        validated again."""
        raw = self.dict()
        for name, value in values.items():
            raw[TUNABLE[name][0]][name] = value
        return DomainConfig.parse_obj(raw)

    @property
    def tuning_objective(self) -> str:
        """The validation metric tuning trials are ranked by."""
        return self.tuning.objective or self.training.elastic.monitor

    def searched_values(self) -> dict[str, object]:
        """This config's own values of the hyperparameters its search space covers: the
        tuner's first trial."""
        return {
            name: getattr(getattr(self, TUNABLE[name][0]), name)
            for name in sorted(self.tuning.search_space)
        }

    @property
    def task(self) -> Literal["binary", "multiclass", "ranking"]:
        return _task(self.features)

    @property
    def is_binary(self) -> bool:
        return self.task == "binary"

    def resolve(self, relative: str) -> Path:
        """A path written in the config, made absolute against the config's folder."""
        path = Path(relative).expanduser()
        return path if path.is_absolute() else self.source_dir / path


def _with_task_defaults(training: TrainingConfig, task: Task) -> TrainingConfig:
    """`training` with the monitor and the regularisation's gap metric the config left
    out filled in from the task (a multi-class model computes no AUC)."""
    elastic = training.elastic
    updates: dict[str, object] = {}
    if elastic.monitor is None:
        updates["monitor"] = DEFAULT_MONITOR[task]
    if elastic.regularisation is not None and elastic.regularisation.metric is None:
        updates["regularisation"] = elastic.regularisation.copy(
            update={"metric": DEFAULT_GAP_METRIC[task]}
        )
    if not updates:
        return training
    return training.copy(update={"elastic": elastic.copy(update=updates)})


def _task(features: FeaturesConfig) -> Literal["binary", "multiclass", "ranking"]:
    if features.sequence is not None:
        return "ranking"
    return "binary" if len(features.label.classes) == 2 else "multiclass"


def _check_metrics_fit_task(
    task: Task, features: FeaturesConfig, evaluation: EvaluationConfig
) -> None:
    """Each metric scores the task of the config's model (its declaration's tasks)."""
    unfit = sorted(name for name in evaluation.metrics if task not in METRICS[name].tasks)
    if task == "ranking":
        if unfit:
            ranking = sorted(name for name, m in METRICS.items() if "ranking" in m.tasks)
            raise _FieldError(
                "evaluation.metrics",
                f"{unfit} score classifiers; a recommender is scored with {ranking}",
            )
        return
    ranking = sorted(name for name in unfit if "ranking" in METRICS[name].tasks)
    if ranking:
        raise _FieldError("evaluation.metrics", f"{ranking} score recommenders, not classifiers")
    if task == "multiclass" and unfit:
        raise _FieldError(
            "evaluation.metrics",
            f"{unfit} need a binary label; "
            f"'{features.label.name}' has {len(features.label.classes)} classes",
        )
    if unfit:
        raise _FieldError("evaluation.metrics", f"{unfit} do not score {task} models")
    if evaluation.per_class and task == "binary":
        raise _FieldError(
            "evaluation.per_class",
            "is for multi-class labels; a binary label reports sensitivity and specificity",
        )


def _check_kind(values: dict) -> None:
    """The features and architecture fit the data kind (`data.format`): its own rules
    first, then its architectures; an architecture left out becomes the kind's first."""
    kind = get_kind(values["data"].format)
    try:
        kind.check_config(DomainConfig.construct(**values))
    except KindConfigError as exc:
        raise _FieldError(exc.field_path, str(exc)) from exc
    model: ModelConfig = values["model"]
    if model.architecture is None:
        values["model"] = model = model.copy(update={"architecture": kind.architectures[0]})
    if model.architecture not in kind.architectures:
        raise _FieldError(
            "model.architecture",
            f"'{model.architecture}' does not fit {values['data'].format} data; choose one of "
            f"{list(kind.architectures)}",
        )
