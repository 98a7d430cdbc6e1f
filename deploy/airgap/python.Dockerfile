# A stand-in for python:3.11-slim from Debian bookworm packages (built by deploy/airgap-base.sh).
ARG BASE=stylewave-base/debian:bookworm-slim
FROM ${BASE}

ENV LANG=C.UTF-8
# Debian's interpreter refuses `pip install` outside a virtual environment (PEP 668), so `python` and
# `pip` are those of a venv on PATH: the commands behave as in the official image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
 && python3 -m venv /opt/python \
 && /opt/python/bin/python -c "import ssl, sqlite3, tomllib, venv, ensurepip"
ENV PATH=/opt/python/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

CMD ["python3"]
