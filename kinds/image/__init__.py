"""Images: an image folder (classes from sub-folders or file-name rules) or a MedMNIST
`.npz`, one class label per image.

ImageExampleGen (example_gen.py) ingests them inside the pipeline: its Beam workers
read and decode every file once (ingestion.py) and write tf.Examples; `aet run` only
lists the files first, so a badly laid-out folder is refused before any component
runs. Transform decodes, resizes and z-scores the pixels (transform.py); the model is an
attention CNN; `predict_image` takes the encoded file; the HeatMaps component draws
Grad-CAM overlays of test images; clients send image files (requests.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aet.config.kinds import register_kind
from aet.kinds.base import Encoder, KindConfigError, PipelineParts, PreparedInput
from aet.kinds.classifier import ClassifierKind

if TYPE_CHECKING:
    import numpy as np
    import tensorflow as tf
    import tensorflow_transform as tft
    from tfx.dsl.components.base.base_component import BaseComponent

    from aet.components.spans import SpanInput
    from aet.config import DomainConfig
    from aet.report.run_record import RunRecord
    from aet.report.sections import Section
    from aet.serving.requests import PredictionInput


class ImageKind(ClassifierKind):
    name = "images"
    description = "an image folder or a MedMNIST .npz, one class per image"
    architectures = ("attention_cnn",)

    def check_config(self, config: DomainConfig) -> None:
        super().check_config(config)
        features = config.features
        if features.image is None:
            raise KindConfigError(
                "features.image",
                f"must be set when data.format is '{config.data.format}' (the size and "
                "channels the model sees)",
            )
        if (features.image.name, features.label.name) != ("image", "label"):
            raise KindConfigError(
                "features",
                "image domains name the image 'image' and the label 'label' (as ingested)",
            )

    def describe(self, config: DomainConfig) -> str:
        image = config.features.image
        return f"{image.height}x{image.width} images, {self.describe_label(config)}"

    # --- data ---------------------------------------------------------------------
    def check_data_path(self, config: DomainConfig, path: Path) -> None:
        if path.is_file() and path.suffix != ".npz":
            raise ValueError(
                f"{path}: not a .npz file; give a MedMNIST-style .npz or a folder of images"
            )

    def prepare_input(
        self, config: DomainConfig, data_path: str, output: Path, beam_args: Sequence[str]
    ) -> PreparedInput:
        """Lists the images by name (ImageExampleGen reads them), so a file the layout
        cannot label, or an `.npz` without the configured splits, is named now."""
        from aet.kinds.image.example_gen import NPZ_SPLITS
        from aet.kinds.image.ingestion import IngestionError, label_rules, listed_images, npz_splits

        if "://" in data_path:
            return PreparedInput(["input: remote, not pre-checked"], data_path)
        if data_path.endswith(".npz"):
            held = npz_splits(data_path)
            wanted = [NPZ_SPLITS.get(split, split) for split in config.data.splits]
            missing = [split for split in wanted if split not in held]
            if missing:
                raise IngestionError(
                    f"{data_path}: no arrays for the split(s) {missing} (it holds {held})"
                )
            line = f"input checked: an .npz with the splits {', '.join(held)}"
        else:
            rules = label_rules(config)
            listed = listed_images(data_path, config.data.splits, rules)
            if not listed:
                raise IngestionError(f"{data_path}: no images in it")
            line = f"input checked: {len(listed)} files (ImageExampleGen decodes them)"
        return PreparedInput([line], data_path)

    def ingestion_lines(self, report: dict) -> list[str]:
        lines = ["images ingested:"]
        for split, count in report["examples"].items():
            classes = ", ".join(f"{c} {n}" for c, n in report["labels"].get(split, {}).items())
            lines.append(f"  {split} {count} ({classes})")
        if report["bad"]:
            lines.append(f"{len(report['bad'])} bad file(s) skipped, each named below:")
            lines += [f"  {source}: {reason}" for source, reason in report["bad"]]
        return lines

    def example_gen(
        self, config: DomainConfig, data_path: str, span: SpanInput | None = None
    ) -> BaseComponent:
        from aet.kinds.image.example_gen import image_example_gen

        return image_example_gen(config, data_path, span)

    def drift_features(self, config: DomainConfig) -> dict[str, str]:
        """The images' brightness and contrast, which ingestion measures (a new scanner
        or exposure moves them), and the label's mix of classes."""
        from aet.kinds.image.ingestion import PIXEL_MEASURES

        return {
            **dict.fromkeys(PIXEL_MEASURES, "numeric"),
            config.features.label.name: "categorical",
        }

    # --- transform ----------------------------------------------------------------
    def model_inputs(self, config: DomainConfig) -> list[str]:
        return [config.features.image.name]

    def input_features(self, inputs: dict, config: DomainConfig) -> dict:
        from aet.components.features import transformed_name
        from aet.components.preprocessing import dense
        from aet.kinds.image.transform import normalised_image

        image = config.features.image
        pixels = normalised_image(dense(inputs[image.name], ""), image)
        return {transformed_name(image.name): pixels}

    # --- training -----------------------------------------------------------------
    def network(
        self, config: DomainConfig, tf_transform_output: tft.TFTransformOutput
    ) -> tf.keras.Model:
        from aet.components.features import transformed_name
        from aet.components.models.attention_cnn import build_attention_cnn

        image = config.features.image
        return build_attention_cnn(
            image, config.model, len(config.features.label.classes), transformed_name(image.name)
        )

    def json_signature(
        self,
        predict: Callable[[dict], dict],
        tf_transform_output: tft.TFTransformOutput,
        config: DomainConfig,
    ) -> tuple[str, Any]:
        import tensorflow as tf

        name = config.features.image.name

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
        def predict_image(encoded: tf.Tensor) -> dict:
            return predict({name: tf.reshape(encoded, [-1, 1])})

        return "predict_image", predict_image

    def explain_signature(
        self,
        model: tf.keras.Model,
        model_inputs: Callable[[tf.Tensor], dict],
        served: Callable[[tf.Tensor], tf.Tensor],
        config: DomainConfig,
    ) -> Any:
        from aet.kinds.image.explanations import explain_signature

        return explain_signature(model, model_inputs, served, config)

    # --- evaluation ---------------------------------------------------------------
    def report_sections(self, record: RunRecord) -> list[Section]:
        from aet.kinds.image.report import class_map_section, heat_map_section, sample_section

        return sample_section(record) + heat_map_section(record) + class_map_section(record)

    def extra_components(self, config: DomainConfig, parts: PipelineParts) -> list:
        explanations = super().extra_components(config, parts)
        if not config.evaluation.heat_maps:
            return explanations
        from aet.components.heat_maps.component import HeatMaps

        return [
            *explanations,
            HeatMaps(
                model=parts.trainer.outputs["model"],
                examples=parts.example_gen.outputs["examples"],
                transform_graph=parts.transform.outputs["transform_graph"],
                domain_config=config.json(),
                split=parts.split,
                count=config.evaluation.heat_maps,
            ),
        ]

    def summarise_explanations(
        self, config: DomainConfig, records: list[bytes], outputs: dict, folder: str
    ) -> dict:
        from aet.kinds.image.overlays import class_average_maps

        return class_average_maps(config, records, outputs, folder)

    # --- serving ------------------------------------------------------------------
    explanation_outputs = frozenset({"heat_map"})

    def explanation_problems(self, config: DomainConfig, outputs: dict[str, np.ndarray]) -> list:
        heat = outputs["heat_map"]
        if heat.ndim != 3 or heat.min() < 0 or heat.max() > 1 + 1e-6:
            return [f"'heat_map' is not [batch, rows, columns] in [0, 1] (shape {heat.shape})"]
        return []

    def synthetic_examples(self, config: DomainConfig, examples: list[bytes], seed: int) -> list:
        from aet.kinds.image.synthetic import synthetic_examples

        return synthetic_examples(config, examples, seed)

    def warmup_inputs(
        self, config: DomainConfig, signatures: Mapping[str, Any]
    ) -> tuple[str, Callable[[list[bytes]], dict[str, np.ndarray]]]:
        import tensorflow as tf

        from aet.components.export.warmup import first_values

        name = config.features.image.name
        return "predict_image", lambda examples: {
            "image_bytes": first_values(examples, name, tf.string)
        }

    # --- clients ------------------------------------------------------------------
    def request_encoder(self, config: DomainConfig) -> Encoder:
        from aet.serving.requests import RequestError

        raise RequestError(
            f"domain '{config.name}' takes image files: use examples_from_images / read_input"
        )

    def read_input(self, config: DomainConfig, path: Path) -> PredictionInput:
        from aet.kinds.image.requests import read_image_input

        return read_image_input(config, path)

    def explained(
        self, config: DomainConfig, request: PredictionInput, outputs: dict, folder: Path
    ) -> list[dict]:
        from aet.kinds.image.overlays import write_overlays

        return write_overlays(config, request, outputs, folder)


IMAGES = register_kind(ImageKind())
