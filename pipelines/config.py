"""The one config schema every domain is written in, and its loader.

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

import yaml
from pydantic import BaseModel, Field, ValidationError, root_validator, validator
from pydantic.fields import ModelField

METRIC_NAMES = (
    "auc",
    "pr_auc",
    "ks",
    "brier",
    "calibration",
    "accuracy",
    "precision",
    "recall",
    "log_loss",
    "sensitivity",
    "specificity",
    "hit_rate",
    "ndcg",
    "hit_rate_sampled",
    "ndcg_sampled",
    "coverage",
)
MetricName = Literal[
    "auc",
    "pr_auc",
    "ks",
    "brier",
    "calibration",
    "accuracy",
    "precision",
    "recall",
    "log_loss",
    "sensitivity",
    "specificity",
    "hit_rate",
    "ndcg",
    "hit_rate_sampled",
    "ndcg_sampled",
    "coverage",
]
# What the Trainer computes on the train and eval splits (components/trainer.py builds
# exactly these), and so what the elastic callbacks can monitor, as NAME or val_NAME.
TRAINING_METRICS = {
    "binary": ("loss", "auc", "pr_auc", "ks", "accuracy"),
    "multiclass": ("loss", "accuracy"),
    "ranking": ("loss", "hit_rate", "ndcg"),
}
# A recommender's ranking metrics are computed on validation only (a full ranking of
# the catalogue per training batch would cost more than the training step).
VALIDATION_ONLY_METRICS = {"ranking": ("hit_rate", "ndcg")}
RANKING_METRICS = {"hit_rate", "ndcg", "hit_rate_sampled", "ndcg_sampled", "coverage"}
BINARY_ONLY_METRICS = {
    "auc",
    "pr_auc",
    "ks",
    "brier",
    "calibration",
    "precision",
    "recall",
    "sensitivity",
    "specificity",
}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ConfigError(ValueError):
    """A config that cannot be used; the message names the file and the field."""


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
    format: Literal["csv", "images", "interactions"] = Field(
        "csv",
        description="csv: CSV files; images: an image folder or a MedMNIST .npz; "
        "interactions: a log of (user, item, rating, time), .inter/.tsv or .csv",
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

    @property
    def ingested(self) -> bool:
        """Images and interaction logs are turned into per-split TFRecords by a Beam job
        before the pipeline (pipelines/ingestion.py), which ImportExampleGen then reads."""
        return self.format in ("images", "interactions")

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


class SequenceConfig(_Strict):
    """A recommendation domain's input: each user's item history, ingested from an
    interaction log (components/interaction_histories.py names the features)."""

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
    architecture: Literal["ft_transformer", "attention_cnn", "sasrec"] = Field(
        "ft_transformer",
        description="ft_transformer: tabular features; attention_cnn: images; "
        "sasrec: item histories (causal self-attention, SASRec)",
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
    """Dropout that follows the train/validation gap of `metric` (see TRAINING_METRICS)."""

    metric: str = Field("auc", description="gap = train - val (val - train for a loss)")
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

    monitor: str = "val_auc"
    learning_rate: LearningRateConfig | None = LearningRateConfig()
    early_stopping: EarlyStoppingConfig | None = EarlyStoppingConfig()
    attention_monitor: AttentionMonitorConfig | None = AttentionMonitorConfig()
    regularisation: RegularisationConfig | None = None
    unfreezing: UnfreezingConfig | None = UnfreezingConfig()
    resume: ResumeConfig | None = ResumeConfig()


class TrainingConfig(_Strict):
    batch_size: int = Field(64, gt=0)
    train_steps: int = Field(1000, gt=0)
    steps_per_epoch: int = Field(50, gt=0)
    eval_steps: int = Field(10, gt=0)
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
    warm_start: bool = Field(
        False, description="start from the last blessed model's weights when there is one"
    )
    elastic: ElasticConfig = ElasticConfig()


class Bound(_Strict):
    lower: float | None = None
    upper: float | None = None

    @root_validator(skip_on_failure=True)
    def _one_side(cls, values: dict) -> dict:
        if values["lower"] is None and values["upper"] is None:
            raise ValueError("give lower, upper or both")
        return values


class ChangeThreshold(_Strict):
    direction: Literal["higher_is_better", "lower_is_better"]
    absolute: float = Field(..., description="allowed change vs the blessed baseline")


class EvaluationConfig(_Strict):
    metrics: list[MetricName] = Field(..., min_items=1)
    thresholds: dict[MetricName, Bound] = {}
    change_thresholds: dict[MetricName, ChangeThreshold] = {}
    slices: list[list[str]] = []
    decision_threshold: float = Field(0.5, gt=0, lt=1)
    per_class: bool = Field(
        False, description="also report each class's one-vs-rest metrics (multi-class labels)"
    )
    heat_maps: int = Field(
        8, ge=0, description="image domains: test images saved with a Grad-CAM overlay"
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

    @root_validator(skip_on_failure=True)
    def _thresholds_on_computed_metrics(cls, values: dict) -> dict:
        for section in ("thresholds", "change_thresholds"):
            unknown = sorted(set(values[section]) - set(values["metrics"]))
            if unknown:
                raise _FieldError(section, f"names metrics not in 'metrics': {unknown}")
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
        _check_data_matches_features(values["data"], features, values["model"])
        task = _task(features)
        _check_metrics_fit_task(task, features, evaluation)
        validation_metrics = [f"val_{name}" for name in TRAINING_METRICS[task]]
        monitorable = validation_metrics + [
            name
            for name in TRAINING_METRICS[task]
            if name not in VALIDATION_ONLY_METRICS.get(task, ())
        ]
        if task == "ranking" and values["training"].warm_start:
            raise _FieldError(
                "training.warm_start",
                "is not supported for recommenders yet: item ids follow each run's "
                "vocabulary, so an earlier model's item embeddings would not line up",
            )
        elastic = values["training"].elastic
        if elastic.monitor not in monitorable:
            raise _FieldError(
                "training.elastic.monitor",
                f"'{elastic.monitor}' is not computed when training a {task} model; "
                f"choose one of {monitorable}",
            )
        if elastic.regularisation and elastic.regularisation.metric not in monitorable:
            raise _FieldError(
                "training.elastic.regularisation.metric",
                f"'{elastic.regularisation.metric}' is not computed on both splits when "
                f"training a {task} model; choose one of "
                f"{[name for name in monitorable if not name.startswith('val_')]}",
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


def _task(features: FeaturesConfig) -> Literal["binary", "multiclass", "ranking"]:
    if features.sequence is not None:
        return "ranking"
    return "binary" if len(features.label.classes) == 2 else "multiclass"


def _check_metrics_fit_task(
    task: str, features: FeaturesConfig, evaluation: EvaluationConfig
) -> None:
    metrics = set(evaluation.metrics)
    if task == "ranking":
        unfit = sorted(metrics - RANKING_METRICS)
        if unfit:
            raise _FieldError(
                "evaluation.metrics",
                f"{unfit} score classifiers; a recommender is scored with "
                f"{sorted(RANKING_METRICS)}",
            )
        return
    ranking = sorted(metrics & RANKING_METRICS)
    if ranking:
        raise _FieldError("evaluation.metrics", f"{ranking} score recommenders, not classifiers")
    if task == "multiclass":
        binary_only = sorted(metrics & BINARY_ONLY_METRICS)
        if binary_only:
            raise _FieldError(
                "evaluation.metrics",
                f"{binary_only} need a binary label; "
                f"'{features.label.name}' has {len(features.label.classes)} classes",
            )
    if evaluation.per_class and task == "binary":
        raise _FieldError(
            "evaluation.per_class",
            "is for multi-class labels; a binary label reports sensitivity and specificity",
        )


def _check_data_matches_features(
    data: DataConfig, features: FeaturesConfig, model: ModelConfig
) -> None:
    """Images need the image feature and the image model, interaction logs the item
    sequence and SASRec, tabular data the others."""
    if (data.format == "interactions") != (features.sequence is not None):
        raise _FieldError(
            "features.sequence",
            f"must be set exactly when data.format is 'interactions' (it is '{data.format}')",
        )
    if (data.format == "images") != (features.image is not None):
        raise _FieldError(
            "features.image",
            f"must be set exactly when data.format is 'images' (it is '{data.format}')",
        )
    if features.image is not None and (features.image.name, features.label.name) != (
        "image",
        "label",
    ):
        raise _FieldError(
            "features", "image domains name the image 'image' and the label 'label' (as ingested)"
        )
    wanted = (
        "sasrec"
        if features.sequence is not None
        else "attention_cnn"
        if features.image is not None
        else "ft_transformer"
    )
    if model.architecture != wanted:
        raise _FieldError(
            "model.architecture", f"'{model.architecture}' does not fit this data; use '{wanted}'"
        )
    for index, rule in enumerate(data.label_rules):
        if features.label is None or rule.label not in features.label.classes:
            classes = features.label.classes if features.label else []
            raise _FieldError(
                f"data.label_rules.{index}.label",
                f"'{rule.label}' is not one of features.label.classes {classes}",
            )


def _format_errors(source: Path, error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        loc = [str(part) for part in item["loc"] if part != "__root__"]
        if "field_path" in item.get("ctx", {}):  # raised as _FieldError by a cross-field rule
            loc.append(item["ctx"]["field_path"])
        field = ".".join(loc) or "(top level)"
        lines.append(f"{source}: field '{field}': {item['msg']}")
    return "\n".join(lines)


def apply_override(raw: dict, assignment: str) -> None:
    """Sets `section.field=value` in a raw config; the value is parsed as YAML.

    A section switched off with `null` (e.g. `early_stopping: null`) is switched back on
    by setting one of its fields; the others take their defaults.
    """
    key, sep, text = assignment.partition("=")
    if not sep or not key:
        raise ConfigError(
            f"override '{assignment}': expected FIELD=VALUE, e.g. training.train_steps=50"
        )
    *parents, leaf = key.strip().split(".")
    node = raw
    for part in parents:
        if node.get(part) is None:
            node[part] = {}
        node = node[part]
        if not isinstance(node, dict):
            raise ConfigError(f"override '{assignment}': '{part}' is not a section")
    node[leaf] = yaml.safe_load(text)


def load_config(
    path: str | Path, overrides: list[str] = (), default_data: bool = False
) -> DomainConfig:
    """Reads and validates one domain config; raises ConfigError naming file and field.

    `overrides` are FIELD=VALUE assignments applied before validation (the CLI's --set).
    With `default_data` the config's own `data.default_set` applies first, for a run on
    the default data; `overrides` still win.
    """
    source = Path(path).resolve()
    try:
        raw = yaml.safe_load(source.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"{source}: no such config file") from exc
    except (OSError, UnicodeDecodeError) as exc:  # a folder, no permission, a binary file
        raise ConfigError(f"{source}: cannot read the config file: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of sections at the top level")
    default_set = (raw.get("data") or {}).get("default_set") or [] if default_data else []
    if not isinstance(default_set, list):
        raise ConfigError(f"{source}: field 'data.default_set': expected a list of FIELD=VALUE")
    for assignment in [*default_set, *overrides]:
        apply_override(raw, assignment)
    if "source_dir" in raw:
        raise ConfigError(f"{source}: field 'source_dir' is set by the loader, remove it")
    try:
        return DomainConfig(**raw, source_dir=source.parent)
    except ValidationError as exc:
        raise ConfigError(_format_errors(source, exc)) from exc
