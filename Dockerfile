# chatwarden: CPU-only image. Build: docker build -t chatwarden .
# Run: docker run --env-file .env -v chatwarden-data:/data chatwarden run --channel NAME

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build stage: a virtualenv with CPU-only torch and chatwarden's runtime -----------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# torch from PyTorch's CPU index: the default wheel would pull a multi-GB CUDA build.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY model ./model
COPY storage ./storage
# Runtime dependencies only: training, evaluation and plotting ([train]) stay out of the image.
# EXTRAS adds extras, e.g. `--build-arg EXTRAS=mlflow` for models:/ and runs:/ model URIs.
ARG EXTRAS=""
RUN pip install "/src${EXTRAS:+[$EXTRAS]}"

# --- runtime stage ---------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
RUN useradd --create-home --uid 10001 chatwarden \
    && mkdir -p /data \
    && chown chatwarden:chatwarden /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MLFLOW_DISABLE_TELEMETRY=true \
    CHATWARDEN_DB=/data/chatwarden.db \
    CHATWARDEN_DATA_DIR=/shared/data \
    CHATWARDEN_METRICS_PORT=9108 \
    CHATWARDEN_METRICS_HOST=0.0.0.0 \
    CHATWARDEN_LOG_FORMAT=json
USER 10001:10001
WORKDIR /data
# The SQLite file (flags, counters, the reports outbox) lives here: keep it on a volume.
VOLUME ["/data"]
EXPOSE 9108
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD ["chatwarden", "health"]
# `docker stop` sends SIGTERM: the bot stops reading, scores and stores what is queued,
# leaves unsent reports in the outbox and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["chatwarden"]
CMD ["run"]
