# stylewave: one image for the API and the workers (docker-compose.yml runs it as both).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STYLEWAVE_DATA_DIR=/data \
    MPLBACKEND=Agg

# Empty: torch comes from PyPI (its Linux build runs on CPU and on NVIDIA GPUs). For a smaller CPU-only image:
#   docker compose build --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_INDEX_URL=""

WORKDIR /srv/stylewave

# Dependencies first, from pyproject.toml alone, so that a code change does not reinstall torch.
COPY pyproject.toml README.md ./
RUN mkdir -p app workers models \
 && touch app/__init__.py workers/__init__.py models/__init__.py \
 && if [ -n "$TORCH_INDEX_URL" ]; then \
      pip install --index-url "$TORCH_INDEX_URL" \
        $(python -c 'import tomllib; d = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]; print(" ".join(x for x in d if x.startswith(("torch==", "torchvision=="))))'); \
    fi \
 && pip install . \
 && pip uninstall -y stylewave \
 && rm -rf app workers models build *.egg-info

COPY app ./app
COPY workers ./workers
COPY models ./models
RUN pip install --no-deps . && rm -rf build *.egg-info

# Never run as root: a fixed uid, owning only the data directory.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin stylewave \
 && mkdir -p /data && chown stylewave:stylewave /data
USER stylewave

EXPOSE 8000
# Liveness of the API; docker-compose.yml gives the worker its own check (a Celery ping).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('STYLEWAVE_PORT', '8000'), timeout=4)" || exit 1

CMD ["stylewave", "api", "--host", "0.0.0.0"]
