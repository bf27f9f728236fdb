# syntax=docker/dockerfile:1
# hpc-policy-engine: the decision service, with the PostgreSQL and MariaDB/MySQL drivers.
# Build from the repository root:  docker build -t hpcpolicy:0.1.0 .
# Binding 0.0.0.0 requires authentication: set HPCPOLICY_JWT_SECRET (or HPCPOLICY_API_KEYS /
# HPCPOLICY_KEYS_FILE) at run time, or the service refuses to start. See docs/deploy.md.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir --disable-pip-version-check --upgrade pip \
 && pip wheel --no-cache-dir --disable-pip-version-check --wheel-dir /wheels ".[postgres,mysql]"

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HPCPOLICY_DATA_DIR=/var/lib/hpcpolicy \
    HPCPOLICY_PORT=8003
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels "hpcpolicy[postgres,mysql]" \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/hpcpolicy --create-home hpcpolicy
USER 10001:10001
WORKDIR /var/lib/hpcpolicy
EXPOSE 8003
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('HPCPOLICY_PORT', '8003'), timeout=2)"]
ENTRYPOINT ["hpcpolicy"]
CMD ["serve", "--host", "0.0.0.0"]
