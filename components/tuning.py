"""The generic TFX Tuner `tuner_fn`: a keras-tuner search over the config's search space.

Every trial builds the domain's model exactly as the Trainer does (components/trainer.py)
from the config with the trial's hyperparameters set, and trains it with the config's
elastic callbacks (warm-up, plateau cuts, early stopping of a trial that stops
improving) for at most `tuning.epochs_per_trial` epochs. Trials are ranked by
`tuning.objective` on the validation split (default: the callbacks' own monitor).

The first trial is the config's own values (where the search space holds them), so
the search hands the Trainer other values only when they scored better than those.

Random and Bayesian trials that fall behind the median of the finished ones after
`tuning.median_stop_after` epochs stop there (components/trial_stopping.py).

Budget: `tuning.max_trials` models (random and Bayesian search; Hyperband sizes its
brackets from `epochs_per_trial`), and `tuning.max_wall_clock_s`: once it has passed no
trial starts and the running one stops after its epoch, so a Tuner never outlives its
budget by more than one epoch.
"""

from __future__ import annotations

import logging
import tempfile
import time

import keras_tuner as kt
import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs
from tfx.components.tuner.component import TunerFnResult

from aet.components.elastic import EventLog, build_callbacks
from aet.components.features import from_custom_config
from aet.components.trainer import build_model, fit_inputs, steps_per_epoch
from aet.components.trial_stopping import MedianStopping, StopAtDeadline
from aet.config import TUNABLE, DomainConfig, TuningConfig, tunable_values
from aet.config.metrics import keras_mode


def hyperparameters(tuning: TuningConfig) -> kt.HyperParameters:
    """The search space as keras-tuner's HyperParameters, typed as the config fields."""
    space = kt.HyperParameters()
    for name, dimension in sorted(tuning.search_space.items()):
        kind = TUNABLE[name][1]
        if dimension.choices is not None:
            space.Choice(name, [kind(value) for value in dimension.choices])
            continue
        sampling = "log" if dimension.log else "linear"
        step = kind(dimension.step) if dimension.step is not None else None
        if kind is int:
            space.Int(
                name, int(dimension.min), int(dimension.max), step=step or 1, sampling=sampling
            )
        else:
            space.Float(name, dimension.min, dimension.max, step=step, sampling=sampling)
    return space


class _Deadline:
    """Mixed into an oracle: no trial starts once `deadline` (time.monotonic) passed,
    except the first, so a search always has a best trial."""

    deadline: float = float("inf")

    def populate_space(self, trial_id: str) -> dict:
        if self.trials and time.monotonic() >= self.deadline:
            return {"status": kt.engine.trial.TrialStatus.STOPPED}
        return super().populate_space(trial_id)


def holds(space: kt.HyperParameters, values: dict) -> bool:
    """Whether every hyperparameter of `space` can take its value in `values`."""
    for hp in space.space:
        value = values.get(hp.name)
        if isinstance(hp, kt.engine.hyperparameters.Choice):
            if value not in hp.values:
                return False
        elif value is None or not hp.min_value <= value <= hp.max_value:
            return False
        elif hp.step is not None:
            steps = (value - hp.min_value) / hp.step
            if abs(steps - round(steps)) > 1e-6:
                return False
    return True


class _ConfigFirst:
    """Mixed into an oracle: the first values it would draw at random are `first`."""

    first: dict | None = None

    def _random_values(self) -> dict | None:
        values, self.first = self.first, None
        return dict(values) if values is not None else super()._random_values()


def hyperband_trials(oracle: kt.oracles.HyperbandOracle) -> int:
    """How many trials a Hyperband search plans: every round of every bracket, each
    iteration (keras-tuner computes the sizes; it exposes no total)."""
    return oracle.hyperband_iterations * sum(
        oracle._get_size(bracket, round_number)
        for bracket in range(oracle._get_num_brackets())
        for round_number in range(oracle._get_num_rounds(bracket))
    )


def make_oracle(
    tuning: TuningConfig,
    objective: kt.Objective,
    seed: int,
    deadline: float,
    first: dict | None = None,
):
    """The strategy's keras-tuner oracle, trying `first` first (when the space holds it)
    and stopping at `deadline`. Bayesian search draws half its trials at random before
    its model guides the rest (keras-tuner's default, three per hyperparameter, would
    leave a small budget nothing to guide)."""
    space = hyperparameters(tuning)
    common = {
        "objective": objective,
        "hyperparameters": space,
        "seed": seed,
        "tune_new_entries": False,
        "allow_new_entries": False,
    }
    if tuning.strategy == "hyperband":
        base = kt.oracles.HyperbandOracle
        arguments = {**common, "max_epochs": tuning.epochs_per_trial, "hyperband_iterations": 1}
    elif tuning.strategy == "bayesian":
        base = kt.oracles.BayesianOptimizationOracle
        initial = max(1, tuning.max_trials // 2)
        arguments = {**common, "max_trials": tuning.max_trials, "num_initial_points": initial}
    else:
        base = kt.oracles.RandomSearchOracle
        arguments = {**common, "max_trials": tuning.max_trials}
    mixins = (_Deadline, _ConfigFirst, base)
    oracle = type(f"Deadline{base.__name__}", mixins, {})(**arguments)
    oracle.deadline = deadline
    if tuning.strategy == "hyperband":
        # TFX's Tuner reports the best `max_trials` trials, which Hyperband leaves unset
        # (and get_best_trials(None) fails): its own plan is the count.
        oracle.max_trials = hyperband_trials(oracle)
    if first is not None and holds(space, first):
        oracle.first = first
    elif first is not None:
        logging.info("the config's values %s are outside the search space: trial 1 is drawn", first)
    return oracle


class DomainHyperModel(kt.HyperModel):
    """Builds and fits one trial's model from the config and the trial's values."""

    def __init__(
        self,
        config: DomainConfig,
        fn_args: FnArgs,
        tf_transform_output: tft.TFTransformOutput,
        deadline: float,
    ) -> None:
        super().__init__(name=config.name)
        self.config = config
        self.fn_args = fn_args
        self.tf_transform_output = tf_transform_output
        self.deadline = deadline
        self.finished_curves: list[list[float]] = []  # the objective per epoch, per trial

    def build(self, hp: kt.HyperParameters) -> tf.keras.Model:
        """Each trial starts from the config's seed, as the Trainer does, so trials differ
        by their values alone: a search with one seed that runs the same trials (the
        wall clock may cut a slow machine's short) picks the same winner."""
        trial = self.config.with_hyperparameters(tunable_values(hp.values))
        tf.keras.utils.set_random_seed(trial.training.seed)
        return build_model(trial, self.tf_transform_output)

    def fit(self, hp: kt.HyperParameters, model: tf.keras.Model, *args, **kwargs):
        trial = self.config.with_hyperparameters(tunable_values(hp.values))
        training = trial.training
        train, evaluation, weights = fit_inputs(
            self.fn_args, self.tf_transform_output, trial, list(model.input.keys())
        )
        # No attention probe or resume checkpoints inside a trial; the adaptations apply.
        elastic = training.elastic.copy(update={"attention_monitor": None, "resume": None})
        log_dir = tempfile.mkdtemp(prefix="trial-", dir=self.fn_args.working_dir)
        callbacks = build_callbacks(elastic, log_dir, training.learning_rate, EventLog())
        callbacks.append(StopAtDeadline(self.deadline))
        tuning, objective = self.config.tuning, self.config.tuning_objective
        if tuning.median_stop_after and tuning.strategy != "hyperband":
            callbacks.append(
                MedianStopping(
                    objective,
                    keras_mode(objective),
                    self.finished_curves,
                    tuning.median_stop_after,
                )
            )
        history = model.fit(
            train,
            validation_data=evaluation,
            # Hyperband gives each round its epochs, continuing the last round's.
            epochs=hp.values.get("tuner/epochs", tuning.epochs_per_trial),
            initial_epoch=hp.values.get("tuner/initial_epoch", 0),
            steps_per_epoch=steps_per_epoch(trial, self.fn_args.train_files),
            class_weight=weights,
            callbacks=[*kwargs.pop("callbacks", []), *callbacks],
            verbose=0,
        )
        self.finished_curves.append(history.history.get(objective, []))
        return history


class DomainTuner(kt.Tuner):
    """keras-tuner's Tuner, with the summaries TFX's Tuner prints sent to the log: the
    terminal belongs to `aet run`'s progress lines."""

    def _build_hypermodel(self, hp: kt.HyperParameters) -> tf.keras.Model:
        """A Hyperband trial promoted from an earlier round continues from that round's
        best weights, as keras-tuner's own Hyperband tuner does."""
        model = super()._build_hypermodel(hp)
        if "tuner/trial_id" in hp.values:
            model.load_weights(self._get_checkpoint_fname(hp.values["tuner/trial_id"]))
        return model

    def search_space_summary(self, extended: bool = False) -> None:
        logging.info("search space: %s", [hp.get_config() for hp in self.oracle.get_space().space])

    def results_summary(self, num_trials: int = 10) -> None:
        for trial in self.oracle.get_best_trials(num_trials):
            logging.info(
                "trial %s: score %s, %s", trial.trial_id, trial.score, trial.hyperparameters.values
            )


def tuner_fn(fn_args: FnArgs) -> TunerFnResult:
    config = from_custom_config(fn_args.custom_config)
    tuning = config.tuning
    objective = kt.Objective(config.tuning_objective, direction=keras_mode(config.tuning_objective))
    deadline = time.monotonic() + tuning.max_wall_clock_s
    tuner = DomainTuner(
        oracle=make_oracle(
            tuning, objective, config.training.seed, deadline, config.searched_values()
        ),
        hypermodel=DomainHyperModel(
            config, fn_args, tft.TFTransformOutput(fn_args.transform_graph_path), deadline
        ),
        directory=fn_args.working_dir,
        project_name=f"aet-{config.name}",
        overwrite=True,
    )
    # verbose=0: no per-trial tables on the terminal.
    return TunerFnResult(tuner=tuner, fit_kwargs={"verbose": 0})
