"""The names and file kinds that the ingested examples, the exported signatures and the
serving clients must agree on, kept at the bottom of the import graph so that a client
needs nothing from training to build a request."""

from __future__ import annotations

from collections.abc import Callable, Mapping

# One client record (a mapping of fields) -> the serialized tf.Example serving_default
# parses; each data kind provides one.
RecordEncoder = Callable[[Mapping[str, object]], bytes]

# Interaction logs: each example is one user's history and the item that followed it.
USER_ID = "user_id"
HISTORY_ITEMS = "history_items"
TARGET_ITEM = "target_item"
# A recommender's own scores in its evaluation signature; its baselines' outputs are
# named after them, and the run summary names their metrics 'ndcg[most_popular]'.
RECOMMENDER_OUTPUT = "scores"
# The tf.Example feature of item ids a client asks not to be recommended.
EXCLUDE_ITEMS = "exclude_items"
TAB_SEPARATED_SUFFIXES = (".inter", ".tsv")  # RecBole's atomic files; others are CSV
LOG_SUFFIXES = (*TAB_SEPARATED_SUFFIXES, ".csv")

# Images: the encoded files a model takes.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
IMAGE_FORMATS = ("PNG", "JPEG")

# A classifier's own answer in its evaluation signature (`serve_examples`), and a tabular
# model's baselines answered beside it (kinds/tabular/baselines.py): the run summary
# names their metrics 'auc[logistic_regression]'.
CLASSIFIER_OUTPUTS = ("probability", "probabilities")  # a binary label's, a multi-class one's
TABULAR_BASELINES = ("logistic_regression", "boosted_trees")

# Signatures a classifier exports besides serving_default: the one TF Serving's
# Classify API calls, marked with that API's method name.
CLASSIFICATION = "classification"
CLASSIFY_METHOD = "tensorflow/serving/classify"
# Every kind's explanation signature: serving_default's input, its answer and why.
EXPLANATION = "explain"

# Where a SavedModel carries what TF Serving and people read beside it: the warm-up
# requests (tf_serving_warmup_requests) and the model card.
SERVING_EXTRAS = "assets.extra"
