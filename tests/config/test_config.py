"""The domain config schema: the shipped config loads, and every kind of mistake fails
with a ConfigError that names the file, the dotted field and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from aet.config import ConfigError, DomainConfig, apply_override, load_config
from aet.pipelines.domains import load_domain, shipped_domains
from tests.conftest import INFERRED_SCHEMA_COMPONENTS
from tests.penguins_domain import PENGUINS_NUMERIC


def test_shipped_finance_config_loads(finance_config_path: Path, finance_raw: dict) -> None:
    config = load_config(finance_config_path)

    assert isinstance(config, DomainConfig)
    assert config.name == "finance_risk"
    assert config.source_dir == finance_config_path.parent
    assert config.is_binary
    features = finance_raw["features"]
    assert config.features.label.name == features["label"]["name"]
    assert config.features.label.classes == features["label"]["classes"]
    assert config.features.numeric == features["numeric"]
    assert config.features.categorical == features["categorical"]
    assert config.features.input_names == features["numeric"] + features["categorical"]
    assert config.training.train_steps == finance_raw["training"]["train_steps"]
    assert set(config.evaluation.metrics) == set(finance_raw["evaluation"]["metrics"])
    # The curated schema is found next to the config, wherever the process runs from.
    assert config.resolve(config.data.schema_file).is_file()


def test_shipped_learning_rate_schedule_and_defaults(finance_config_path: Path) -> None:
    schedule = load_config(finance_config_path).training.elastic.learning_rate
    assert (schedule.warmup_steps, schedule.factor, schedule.patience) == (22, 0.5, 8)
    assert (schedule.cooldown, schedule.min_learning_rate) == (0, 1e-5)
    assert schedule.restore_best_on_cut is False
    restoring = load_config(
        finance_config_path, ["training.elastic.learning_rate.restore_best_on_cut=true"]
    )
    assert restoring.training.elastic.learning_rate.restore_best_on_cut is True


def test_shipped_domains_lists_finance_risk(finance_config_path: Path) -> None:
    assert shipped_domains()["finance_risk"] == finance_config_path
    assert load_domain("finance_risk") == load_config(finance_config_path)


def _wrong_type(raw: dict) -> None:
    raw["training"]["batch_size"] = "sixty"


def _fractional_int(raw: dict) -> None:
    raw["training"]["batch_size"] = 64.5  # pydantic v1 alone would truncate it to 64


def _boolean_int(raw: dict) -> None:
    raw["model"]["num_heads"] = True  # pydantic v1 alone would read it as 1


def _typo(raw: dict) -> None:
    raw["training"]["bach_size"] = raw["training"].pop("batch_size")


def _typo_section(raw: dict) -> None:
    raw["evaluations"] = raw.pop("evaluation")


def _heads(raw: dict) -> None:
    raw["model"]["embedding_dim"], raw["model"]["num_heads"] = 30, 4


def _splits(raw: dict) -> None:
    raw["data"]["splits"] = {"train": 0.7, "eval": 0.2, "test": 0.2}


def _threshold_not_computed(raw: dict) -> None:
    raw["evaluation"]["thresholds"]["precision"] = {"lower": 0.5}


def _change_threshold_not_computed(raw: dict) -> None:
    raw["evaluation"]["change_thresholds"]["recall"] = {
        "direction": "higher_is_better",
        "absolute": -0.1,
    }


def _unknown_slice(raw: dict) -> None:
    raw["evaluation"]["slices"].append(["monthly_income"])


def _three_classes(raw: dict) -> None:
    raw["features"]["label"]["classes"] = ["good", "bad", "ugly"]


def _bucket_on_categorical(raw: dict) -> None:
    raw["features"]["buckets"][0]["source"] = "purpose"


def _duplicate_feature(raw: dict) -> None:
    raw["features"]["categorical"].append("credit_amount")


def _label_as_feature(raw: dict) -> None:
    raw["features"]["numeric"].append("creditability")


def _unknown_metric(raw: dict) -> None:
    raw["evaluation"]["metrics"].append("f1")


def _boolean_classes(raw: dict) -> None:
    raw["features"]["label"]["classes"] = [False, True]  # what YAML makes of `[no, yes]`


def _no_threshold(raw: dict) -> None:
    raw["evaluation"]["thresholds"] = {}
    raw["evaluation"]["change_thresholds"] = {}


def _monitor_not_trained(raw: dict) -> None:
    raw["training"]["elastic"]["monitor"] = "val_brier"


def _rate_factor(raw: dict) -> None:
    raw["training"]["elastic"]["learning_rate"]["factor"] = 1.5


def _rate_patience(raw: dict) -> None:
    raw["training"]["elastic"]["learning_rate"]["patience"] = 0


def _negative_warmup(raw: dict) -> None:
    raw["training"]["elastic"]["learning_rate"]["warmup_steps"] = -1


def _negative_cooldown(raw: dict) -> None:
    raw["training"]["elastic"]["learning_rate"]["cooldown"] = -2


def _old_plateau_key(raw: dict) -> None:
    raw["training"]["elastic"]["reduce_lr_on_plateau"] = {"factor": 0.5}


def _attention_alarms_crossed(raw: dict) -> None:
    raw["training"]["elastic"]["attention_monitor"] = {"collapse_below": 0.5, "uniform_above": 0.4}


def _regularisation_on_untrained_metric(raw: dict) -> None:
    raw["training"]["elastic"]["regularisation"] = {"metric": "brier"}


def _regularisation_bounds_crossed(raw: dict) -> None:
    raw["training"]["elastic"]["regularisation"] = {"widen_above": 0.0, "narrow_below": 0.1}


def _weight_decay_bounds_crossed(raw: dict) -> None:
    raw["training"]["elastic"]["regularisation"] = {"min_weight_decay": 0.2}


def _unknown_unfreezing_schedule(raw: dict) -> None:
    raw["training"]["elastic"]["unfreezing"] = {"schedule": "weekly"}


def _resume_never(raw: dict) -> None:
    raw["training"]["elastic"]["resume"] = {"every_epochs": 0}


def _warm_start_word(raw: dict) -> None:
    raw["training"]["warm_start"] = "sometimes"


def _drift_of_an_unknown_feature(raw: dict) -> None:
    raw["drift"] = {"thresholds": {"salary": 0.2}}


def _drift_threshold_past_one(raw: dict) -> None:
    raw["drift"] = {"thresholds": {"credit_amount": 1.5}}


def _drift_policy_word(raw: dict) -> None:
    raw["drift"] = {"policy": "ignore"}


def _window_of_none(raw: dict) -> None:
    raw["data"]["window"] = 0


def _bad_model_name(raw: dict) -> None:
    raw["serving"]["model_name"] = "Finance Risk"


# (mutation, dotted field, fragments of the problem that the message must state)
BAD_CONFIGS = {
    "wrong type": (_wrong_type, "training.batch_size", ["not a valid integer"]),
    "fractional int": (_fractional_int, "training.batch_size", ["whole number", "64.5"]),
    "boolean int": (_boolean_int, "model.num_heads", ["whole number", "True"]),
    "unknown field": (_typo, "training.bach_size", ["not permitted"]),
    "unknown section": (_typo_section, "evaluations", ["not permitted"]),
    "heads": (_heads, "model.embedding_dim", ["divisible", "30", "num_heads (4)"]),
    "splits": (_splits, "data.splits", ["sum to 1", "1.1"]),
    "threshold": (_threshold_not_computed, "evaluation.thresholds", ["precision", "metrics"]),
    "change threshold": (
        _change_threshold_not_computed,
        "evaluation.change_thresholds",
        ["recall", "metrics"],
    ),
    "slice": (_unknown_slice, "evaluation.slices", ["monthly_income"]),
    "binary-only metric": (_three_classes, "evaluation.metrics", ["auc", "binary", "3 classes"]),
    "bucket source": (
        _bucket_on_categorical,
        "features.buckets.0.source",
        ["purpose", "not a numeric feature"],
    ),
    "duplicate feature": (_duplicate_feature, "features.categorical", ["credit_amount", "twice"]),
    "label as feature": (_label_as_feature, "features.numeric", ["creditability", "twice"]),
    "unknown metric": (_unknown_metric, "evaluation.metrics.9", ["permitted", "log_loss"]),
    "boolean classes": (_boolean_classes, "features.label.classes.0", ["boolean", "quote"]),
    "model name": (_bad_model_name, "serving.model_name", ["lower-case"]),
    "attention alarms": (
        _attention_alarms_crossed,
        "training.elastic.attention_monitor.collapse_below",
        ["below uniform_above"],
    ),
    "regularisation metric": (
        _regularisation_on_untrained_metric,
        "training.elastic.regularisation.metric",
        ["brier", "auc"],
    ),
    "regularisation bounds": (
        _regularisation_bounds_crossed,
        "training.elastic.regularisation.narrow_below",
        ["below widen_above"],
    ),
    "weight decay bounds": (
        _weight_decay_bounds_crossed,
        "training.elastic.regularisation.min_weight_decay",
        ["must not exceed max_weight_decay"],
    ),
    "no threshold": (_no_threshold, "evaluation.thresholds", ["at least one", "bless"]),
    "monitor": (_monitor_not_trained, "training.elastic.monitor", ["val_brier", "val_auc"]),
    "rate factor": (_rate_factor, "training.elastic.learning_rate.factor", ["less than 1"]),
    "rate patience": (
        _rate_patience,
        "training.elastic.learning_rate.patience",
        ["greater than or equal to 1"],
    ),
    "warm-up steps": (
        _negative_warmup,
        "training.elastic.learning_rate.warmup_steps",
        ["greater than or equal to 0"],
    ),
    "cooldown": (
        _negative_cooldown,
        "training.elastic.learning_rate.cooldown",
        ["greater than or equal to 0"],
    ),
    "unfreezing schedule": (
        _unknown_unfreezing_schedule,
        "training.elastic.unfreezing.schedule",
        ["'epochs'", "'plateau'"],
    ),
    "resume period": (
        _resume_never,
        "training.elastic.resume.every_epochs",
        ["greater than or equal to 1"],
    ),
    "warm start": (_warm_start_word, "training.warm_start", ["new_span", "always", "never"]),
    "drift of an unknown feature": (
        _drift_of_an_unknown_feature,
        "drift.thresholds",
        ["unknown features ['salary']"],
    ),
    "drift threshold past one": (
        _drift_threshold_past_one,
        "drift.thresholds",
        ["credit_amount", "(0, 1]"],
    ),
    "drift policy": (_drift_policy_word, "drift.policy", ["retrain", "stop"]),
    "window of none": (_window_of_none, "data.window", ["greater than or equal to 1"]),
    "old plateau key": (
        _old_plateau_key,
        "training.elastic.reduce_lr_on_plateau",
        ["not permitted"],
    ),
}


@pytest.mark.parametrize("case", BAD_CONFIGS)
def test_bad_config_names_file_field_and_problem(case: str, finance_raw: dict, write_config):
    mutate, field, problem = BAD_CONFIGS[case]
    mutate(finance_raw)
    path = write_config(finance_raw)

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    message = str(caught.value)
    lines = message.splitlines()
    assert all(line.startswith(f"{path.resolve()}: ") for line in lines), message
    named = [line for line in lines if f": field '{field}': " in line]
    assert named, message
    for fragment in problem:
        assert fragment in named[0], message


def test_every_problem_is_reported_not_only_the_first(finance_raw: dict, write_config) -> None:
    _wrong_type(finance_raw)
    _typo_section(finance_raw)
    path = write_config(finance_raw)

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    lines = str(caught.value).splitlines()
    assert any("'training.batch_size'" in line for line in lines)
    assert any("'evaluations'" in line for line in lines)
    assert all(line.startswith(str(path.resolve())) for line in lines)


def test_warm_start_takes_yaml_booleans_as_its_words(finance_raw: dict, write_config) -> None:
    finance_raw["training"]["warm_start"] = True
    assert load_config(write_config(finance_raw)).training.warm_start == "always"
    finance_raw["training"]["warm_start"] = False
    assert load_config(write_config(finance_raw)).training.warm_start == "never"


def test_config_that_mutates_nothing_still_loads(finance_raw: dict, write_config) -> None:
    """The bad-config cases differ from a loadable file only by their mutation."""
    config = load_config(write_config(finance_raw))
    assert config.name == "finance_risk"


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("name: finance_risk\ndescription: credit: risk\n")

    with pytest.raises(ConfigError, match="not valid YAML") as caught:
        load_config(path)
    assert str(path.resolve()) in str(caught.value)
    assert "line 2" in str(caught.value)  # PyYAML's mark: where the parse failed


@pytest.mark.parametrize("text", ["", "- name: finance_risk\n", "just a string\n"])
def test_config_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)

    with pytest.raises(ConfigError, match="mapping") as caught:
        load_config(path)
    assert str(path.resolve()) in str(caught.value)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "config.yaml"

    with pytest.raises(ConfigError, match="no such config file") as caught:
        load_config(path)
    assert str(path) in str(caught.value)
    # load_domain reports the same for a path that looks like a config file.
    with pytest.raises(ConfigError, match="no such config file"):
        load_domain(str(path))


@pytest.mark.parametrize("kind", ["folder", "binary"])
def test_unreadable_config_names_the_path(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "config.yaml"
    if kind == "folder":
        path.mkdir()
    else:
        path.write_bytes(b"\xff\xfe\x00name: x")

    with pytest.raises(ConfigError, match="cannot read") as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path.resolve()}: ")


def test_source_dir_is_set_by_the_loader_only(finance_raw: dict, write_config) -> None:
    finance_raw["source_dir"] = "/somewhere/else"
    path = write_config(finance_raw)

    with pytest.raises(ConfigError, match="source_dir") as caught:
        load_config(path)
    assert str(path.resolve()) in str(caught.value)


def test_relative_paths_resolve_against_the_config_folder(
    finance_raw: dict, write_config, tmp_path: Path, monkeypatch
) -> None:
    finance_raw["data"]["default"] = "data/credit.csv"
    path = write_config(finance_raw)
    monkeypatch.chdir(tmp_path)

    config = load_config(path.relative_to(tmp_path))

    assert config.source_dir == path.parent
    assert config.resolve(config.data.default) == path.parent / "data" / "credit.csv"
    assert config.resolve("/abs/file.csv") == Path("/abs/file.csv")


# --- overrides (the CLI's --set) --------------------------------------------------------


def test_apply_override_sets_nested_fields_parsed_as_yaml(finance_raw: dict) -> None:
    apply_override(finance_raw, "training.train_steps=50")
    apply_override(finance_raw, "evaluation.metrics=[auc, accuracy]")
    apply_override(finance_raw, "training.elastic.early_stopping.patience=3")
    apply_override(finance_raw, "description=a=b")  # only the first '=' separates

    assert finance_raw["training"]["train_steps"] == 50
    assert finance_raw["evaluation"]["metrics"] == ["auc", "accuracy"]
    assert finance_raw["training"]["elastic"]["early_stopping"]["patience"] == 3
    assert finance_raw["description"] == "a=b"


def test_override_switches_a_null_section_back_on(finance_config_path: Path) -> None:
    assert load_config(finance_config_path).training.elastic.early_stopping is None
    config = load_config(finance_config_path, ["training.elastic.early_stopping.patience=3"])
    assert config.training.elastic.early_stopping.patience == 3


@pytest.mark.parametrize("assignment", ["training.train_steps", "=50", ""])
def test_apply_override_rejects_assignments_without_field_and_value(
    finance_raw: dict, assignment: str
) -> None:
    with pytest.raises(ConfigError, match="expected FIELD=VALUE") as caught:
        apply_override(finance_raw, assignment)
    assert f"override '{assignment}'" in str(caught.value)


def test_apply_override_rejects_a_field_inside_a_value(finance_raw: dict) -> None:
    with pytest.raises(ConfigError, match="not a section") as caught:
        apply_override(finance_raw, "name.first=x")
    assert "name.first=x" in str(caught.value)


def test_integral_floats_are_accepted_as_ints(finance_config_path: Path) -> None:
    config = load_config(finance_config_path, ["training.batch_size=32.0"])
    assert config.training.batch_size == 32
    assert isinstance(config.training.batch_size, int)


def test_overrides_apply_before_validation(finance_config_path: Path) -> None:
    config = load_config(
        finance_config_path,
        ["training.train_steps=50", "model.num_heads=8", "data.splits={train: 0.8, eval: 0.2}"],
    )

    assert config.training.train_steps == 50
    assert config.model.num_heads == 8
    assert config.data.splits == {"train": 0.8, "eval": 0.2}
    # The file itself is untouched.
    assert load_config(finance_config_path).training.train_steps != 50


@pytest.mark.parametrize(
    ("assignment", "field", "problem"),
    [
        ("training.batch_size=sixty", "training.batch_size", "not a valid integer"),
        ("training.train_steps=10.5", "training.train_steps", "whole number"),
        ("training.bach_size=64", "training.bach_size", "not permitted"),
        ("model.num_heads=5", "model.embedding_dim", "divisible"),
    ],
)
def test_bad_override_is_rejected_naming_the_field(
    finance_config_path: Path, assignment: str, field: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_domain("finance_risk", [assignment])

    message = str(caught.value)
    assert str(finance_config_path) in message
    assert f"field '{field}'" in message
    assert problem in message


# --- finding domains --------------------------------------------------------------------


def test_unknown_domain_lists_the_shipped_ones() -> None:
    with pytest.raises(ConfigError, match="unknown domain 'no_such_domain'") as caught:
        load_domain("no_such_domain")
    assert "finance_risk" in str(caught.value)


def test_new_domain_needs_only_a_config_file(penguins_config_path: Path, penguins_csv: Path):
    by_file = load_domain(str(penguins_config_path))
    by_folder = load_domain(str(penguins_config_path.parent))

    assert by_file == by_folder
    assert by_file.name == "penguins"
    assert by_file.source_dir == penguins_config_path.parent
    assert not by_file.is_binary
    assert by_file.features.label.name == "species"
    assert by_file.features.label.classes == ["0", "1", "2"]  # CSV text, as the data has it
    assert by_file.features.numeric == PENGUINS_NUMERIC
    assert by_file.features.categorical == []
    assert by_file.data.schema_file is None
    assert by_file.resolve(by_file.data.default) == penguins_csv.resolve()
    assert "penguins" not in shipped_domains()


def test_new_domain_builds_the_full_pipeline(penguins_config_path: Path, tmp_path: Path):
    from aet.pipelines.factory import create_pipeline, evaluation_split, pipeline_name, run_layout

    config = load_domain(str(penguins_config_path))
    layout = run_layout(tmp_path / "run", config)

    pipeline = create_pipeline(config, data_path=str(config.data.default), **layout)

    components = {component.id: component for component in pipeline.components}
    assert set(components) == INFERRED_SCHEMA_COMPONENTS
    assert len(pipeline.components) == len(INFERRED_SCHEMA_COMPONENTS)
    assert pipeline.pipeline_info.pipeline_name == pipeline_name(config) == "aet-penguins"
    assert evaluation_split(config) == "test"
    example_gen = components["CsvExampleGen"]
    assert example_gen.exec_properties["input_base"] == str(Path(config.data.default).parent)
    assert Path(config.data.default).name in example_gen.exec_properties["input_config"]
    assert layout["serving_dir"].endswith("serving/penguins")


def test_penguins_helper_writes_valid_yaml(penguins_config_path: Path) -> None:
    raw = yaml.safe_load(penguins_config_path.read_text())
    assert raw["features"]["label"]["name"] == "species"
    assert Path(raw["data"]["default"]).is_absolute()
    # TFX's Evaluator blesses no model (so the Pusher pushes none) without a threshold.
    assert set(raw["evaluation"]["thresholds"]) <= set(raw["evaluation"]["metrics"])
    assert raw["evaluation"]["thresholds"]


def test_epochs_and_train_steps_cannot_both_say_how_long_to_train(write_config, finance_raw):
    finance_raw["training"]["epochs"] = 20
    with pytest.raises(ConfigError, match=r"training\.epochs'.*not both"):
        load_config(write_config(finance_raw))


def test_a_multiclass_config_watches_accuracy_when_it_names_no_monitor(
    write_config, penguins_config_path
):
    raw = yaml.safe_load(penguins_config_path.read_text())
    del raw["training"]["elastic"]
    raw["training"]["elastic"] = {"regularisation": {"widen_above": 0.1}}
    config = load_config(write_config(raw))
    assert config.training.elastic.monitor == "val_accuracy"
    assert config.training.elastic.regularisation.metric == "accuracy"
