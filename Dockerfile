# The image Kubeflow Pipelines (and Dataflow's --sdk_container_image) run every component
# in: TFX's executors import the project's preprocessing_fn, run_fn and custom components.
# Build from the repository root:  docker build -t aet:0.1.0 .
#
# Two stages: the compilers some sdists need stay in the build stage; the image that runs
# holds the virtual environment and the project only, and runs as an unprivileged user.
# Pin the base by digest for a release: --build-arg BASE=python:3.10-slim@sha256:<digest>
# (`docker buildx imagetools inspect python:3.10-slim` prints it).
ARG BASE=python:3.10-slim

FROM ${BASE} AS build

RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

# The pinned, hashed lock first, so code changes do not reinstall the 3 GB of dependencies.
# pipelines/runners.py resolves default data under /opt/venv/lib/python3.10/site-packages.
COPY requirements/ /opt/aet/requirements/
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --no-deps --require-hashes -r /opt/aet/requirements/lock.txt \
    && /opt/venv/bin/pip install --no-cache-dir --no-deps --require-hashes -r /opt/aet/requirements/data.txt

COPY setup.cfg setup.py pyproject.toml README.md /opt/aet/
COPY config/ /opt/aet/config/
COPY pipelines/ /opt/aet/pipelines/
COPY components/ /opt/aet/components/
COPY kinds/ /opt/aet/kinds/
COPY domains/ /opt/aet/domains/
COPY serving/ /opt/aet/serving/
COPY report/ /opt/aet/report/
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps --no-build-isolation /opt/aet

FROM ${BASE}

ENV PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    PATH=/opt/venv/bin:$PATH

RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin aet
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/aet /opt/aet

USER 10001
WORKDIR /opt/aet
