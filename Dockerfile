# Every clipwatch image from one file: a shared base stage, then one stage per component.
#   docker build --target serving -t clipwatch-serving:0.1.0 .     (serving, webapp, reporting, bootstrap)
# docker-compose.yml builds these targets. serving/Dockerfile, webapp/Dockerfile, reporting/Dockerfile
# and export/Dockerfile are this file's base stage plus one component's stage, written by
# `make dockerfiles` (scripts/dockerfiles.py); edit this file, never those.
#
# Layer order is the point: each stage installs its pinned lock (<component>/requirements.txt, made by
# `make lock`) before it copies any code, so a code change rebuilds only the last two layers. pip's
# cache lives in a BuildKit cache mount, shared by the stages and kept out of the image.

FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \
    CLIPWATCH_DATA_DIR=/data CLIPWATCH_ARTIFACTS_DIR=/artifacts MPLCONFIGDIR=/tmp/matplotlib
# A non-root user, written directly: slim bases don't all ship useradd.
RUN echo "app:x:10001:10001::/home/app:/bin/sh" >> /etc/passwd && echo "app:x:10001:" >> /etc/group \
    && mkdir -p /home/app /data /artifacts && chown 10001:10001 /home/app /data /artifacts
WORKDIR /app

# Serving API: FastAPI + ONNX Runtime, no torch. CLIPWATCH_WORKERS > 1 runs that many processes,
# their metrics aggregated (see docs/monitoring.md).
FROM base AS serving
COPY serving/requirements.txt serving/requirements.txt
RUN --mount=type=cache,target=/root/.cache/pip pip install -r serving/requirements.txt
COPY pyproject.toml README.md ./
COPY clipwatch clipwatch
COPY serving serving
RUN --mount=type=cache,target=/root/.cache/pip pip install --no-deps .
USER 10001
EXPOSE 8080
CMD ["clipwatch", "serve", "--host", "0.0.0.0", "--port", "8080"]

# Web app: Streamlit client of the serving API. No model stack, no CNN runtime, no torch.
FROM base AS webapp
COPY webapp/requirements.txt webapp/requirements.txt
RUN --mount=type=cache,target=/root/.cache/pip pip install -r webapp/requirements.txt
COPY pyproject.toml README.md ./
COPY clipwatch clipwatch
COPY webapp webapp
RUN --mount=type=cache,target=/root/.cache/pip pip install --no-deps .
USER 10001
EXPOSE 8081
ENV API_URL=http://serving-api:8080
CMD ["streamlit", "run", "webapp/api.py", "--server.port", "8081", "--server.address", "0.0.0.0", "--server.headless", "true", "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer"]

# Reporting: Evidently reports and UI, no torch. The default command builds the project, then serves
# the UI; the watcher (`python reporting/project.py --watch`, gauges on 8083) runs as its own
# container, so that whatever supervises containers restarts it when it dies.
FROM base AS reporting
COPY reporting/requirements.txt reporting/requirements.txt
RUN --mount=type=cache,target=/root/.cache/pip pip install -r reporting/requirements.txt
COPY pyproject.toml README.md ./
COPY clipwatch clipwatch
COPY reporting reporting
RUN --mount=type=cache,target=/root/.cache/pip pip install --no-deps .
USER 10001
EXPOSE 8082 8083
ENV DO_NOT_TRACK=1
CMD ["sh", "-c", "python reporting/project.py && exec evidently ui --workspace ${CLIPWATCH_REPORT_WORKSPACE:-/data/workspace} --host 0.0.0.0 --port 8082"]

# Trainer / init: the one image with torch (ONNX export), plus dataset rendering and training.
# Its default command builds whatever is missing in /data and /artifacts (clipwatch bootstrap).
FROM base AS bootstrap
COPY export/requirements.txt export/requirements.txt
RUN --mount=type=cache,target=/root/.cache/pip pip install -r export/requirements.txt
COPY pyproject.toml README.md ./
COPY clipwatch clipwatch
COPY export export
COPY scripts scripts
RUN --mount=type=cache,target=/root/.cache/pip pip install --no-deps .
USER 10001
CMD ["clipwatch", "bootstrap"]
