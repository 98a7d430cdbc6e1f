# stylewave: one image for the API and the workers (docker-compose.yml runs it as both).
#
# The base is a build argument: the official image by default, or an equivalent built from Debian packages by
# deploy/airgap-base.sh on a site without Docker Hub (docker-compose.yml passes $PYTHON_IMAGE on).
ARG PYTHON_IMAGE=python:3.11-slim

# ---- build: the dependencies in a venv (the wheels stay in this stage, not in the image) ------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Empty: torch comes from PyPI (its Linux build runs on CPU and on NVIDIA GPUs). For a smaller CPU-only image:
#   docker compose build --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_INDEX_URL=""

WORKDIR /src
RUN python -m venv /opt/stylewave
ENV PATH=/opt/stylewave/bin:$PATH

# Optional local wheels (deploy/wheelhouse/README.md): when there are any, the build installs from them alone,
# offline; otherwise from PyPI.
COPY deploy/wheelhouse /wheelhouse
# Dependencies first, from pyproject.toml alone, so that a code or README change does not reinstall torch.
COPY pyproject.toml ./
RUN python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
      > requirements.txt \
 && if ls /wheelhouse/*.whl >/dev/null 2>&1; then \
      pip install --no-index --find-links /wheelhouse -r requirements.txt; \
    else \
      if [ -n "$TORCH_INDEX_URL" ]; then \
        pip install --index-url "$TORCH_INDEX_URL" $(grep -E '^(torch|torchvision)==' requirements.txt); \
      fi; \
      pip install -r requirements.txt; \
    fi

# The project itself, as a wheel: the final stage installs it without a build backend.
COPY README.md ./
COPY app ./app
COPY workers ./workers
COPY models ./models
RUN if ls /wheelhouse/*.whl >/dev/null 2>&1; then \
      pip wheel --no-deps --no-index --find-links /wheelhouse -w /dist .; \
    else \
      pip wheel --no-deps -w /dist .; \
    fi

# ---- the image ------------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STYLEWAVE_DATA_DIR=/data \
    MPLBACKEND=Agg \
    PATH=/opt/stylewave/bin:$PATH

# The venv (unchanged by a code change, so this layer stays cached), then the project's small wheel.
COPY --from=build /opt/stylewave /opt/stylewave
COPY --from=build /dist /tmp/dist
RUN pip install --no-deps /tmp/dist/*.whl && rm -rf /tmp/dist

# Never run as root: a fixed uid, owning only the data directory.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin stylewave \
 && mkdir -p /data && chown stylewave:stylewave /data
USER stylewave
WORKDIR /home/stylewave

EXPOSE 8000
# Liveness of the API; docker-compose.yml gives the worker its own check (a Celery ping).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('STYLEWAVE_PORT', '8000'), timeout=4)" || exit 1

CMD ["stylewave", "api", "--host", "0.0.0.0"]
