"""Metrics that neither Keras nor TFMA ship, written as Keras metrics so that both the
Trainer (during fit) and TFMA (as a custom Keras metric) compute them the same way, and
the builder of a declared metric's Keras class (config/metrics.py names them by path)."""

from __future__ import annotations

import importlib

import tensorflow as tf

from aet.config.metrics import MetricClass


def build_keras_metric(spec: MetricClass) -> tf.keras.metrics.Metric:
    """The Keras metric a declaration names, built with its arguments."""
    module = importlib.import_module(spec.module)
    return getattr(module, spec.class_name)(**spec.config)


@tf.keras.utils.register_keras_serializable(package="aet")
class KolmogorovSmirnov(tf.keras.metrics.Metric):
    """Kolmogorov-Smirnov statistic of a binary scorer: the largest gap between the
    cumulative score distributions of positives and negatives (credit-risk's usual
    separation measure). Scores are binned into `num_bins` equal bins on [0, 1], so the
    result is exact up to the bin width and the metric merges across batches and workers.
    """

    def __init__(self, num_bins: int = 1000, name: str = "ks", **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.num_bins = num_bins
        self.positives = self.add_weight("positives", shape=(num_bins,), initializer="zeros")
        self.negatives = self.add_weight("negatives", shape=(num_bins,), initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_true = tf.reshape(tf.cast(y_true, tf.float32), [-1])
        y_pred = tf.clip_by_value(tf.reshape(tf.cast(y_pred, tf.float32), [-1]), 0.0, 1.0)
        weight = (
            tf.ones_like(y_true)
            if sample_weight is None
            else tf.reshape(tf.cast(sample_weight, tf.float32), [-1])
        )
        bins = tf.minimum(tf.cast(y_pred * self.num_bins, tf.int32), self.num_bins - 1)
        self.positives.assign_add(
            tf.math.unsorted_segment_sum(weight * y_true, bins, self.num_bins)
        )
        self.negatives.assign_add(
            tf.math.unsorted_segment_sum(weight * (1.0 - y_true), bins, self.num_bins)
        )

    def result(self) -> tf.Tensor:
        positives, negatives = tf.reduce_sum(self.positives), tf.reduce_sum(self.negatives)
        positive_cdf = tf.math.divide_no_nan(tf.cumsum(self.positives), positives)
        negative_cdf = tf.math.divide_no_nan(tf.cumsum(self.negatives), negatives)
        gap = tf.reduce_max(tf.abs(positive_cdf - negative_cdf))
        # A single class has no second distribution: report no separation, not a perfect 1.
        return tf.where(tf.logical_and(positives > 0, negatives > 0), gap, 0.0)

    def reset_state(self) -> None:
        self.positives.assign(tf.zeros_like(self.positives))
        self.negatives.assign(tf.zeros_like(self.negatives))

    def get_config(self) -> dict:
        return {**super().get_config(), "num_bins": self.num_bins}
