# syntax=docker/dockerfile:1
# One image for every process of the assistant (docs/deployment.md). The command picks the
# process, the same in deploy/compose.yml and deploy/k8s/:
#   rasa run --model models/cobranza.tar.gz …   a Rasa replica (one Sanic worker)
#   python -m cobranza.action_server            an action server (beside its replica)
#   python -m cobranza.channels.whatsapp.gateway  the WhatsApp gateway
#   python -m cobranza.console                  the agents' console
#   python -m cobranza.outreach                 an outreach worker
#   python -m cobranza.events                   the events consumer (RabbitMQ → analytics)
#   cobranza db upgrade                         the one-shot migration
# deploy/entrypoint.sh turns NAME_FILE secrets into NAME and gives `rasa` its body bounds.
#
# The model is trained here, from the training data in the build context, so an image always
# carries the model of its own source. No secret is read or written at build time: every token
# and password comes from the environment (or a NAME_FILE) when a container starts.
#
# linux/amd64 only: constraints.txt pins TensorFlow 2.12's x86-64 wheels.

FROM python:3.10.16-slim-bookworm AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RASA_TELEMETRY_ENABLED=false \
    TF_CPP_MIN_LOG_LEVEL=2 \
    SQLALCHEMY_SILENCE_UBER_WARNING=1 \
    PYTHONTZPATH=

# A compiler for any package of the pinned tree without a wheel for this platform; it stays in
# this stage.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app

# The dependencies first (their own layer: a change of code does not reinstall them), exactly as
# `make install` pins them: requirements.txt under constraints.txt, then `pip check`.
COPY requirements.txt constraints.txt ./
RUN pip install --quiet pip==24.3.1 setuptools==70.3.0 wheel==0.45.1 \
 && pip install --quiet -c constraints.txt -r requirements.txt \
 && pip check

COPY . .
# Editable, as `make install` does: the package finds campaigns/, templates/, persona_profiles/
# and migrations/ beside it (cobranza.config.PROJECT_ROOT is /app), and `cobranza` is on PATH.
RUN pip install --quiet --no-deps --no-build-isolation -e . \
 && rasa train --fixed-model-name cobranza --out models --quiet \
 && test -s models/cobranza.tar.gz \
 && rm -rf .rasa var


FROM python:3.10.16-slim-bookworm

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RASA_TELEMETRY_ENABLED=false \
    TF_CPP_MIN_LOG_LEVEL=2 \
    SQLALCHEMY_SILENCE_UBER_WARNING=1 \
    PYTHONTZPATH= \
    HOME=/tmp \
    MPLCONFIGDIR=/tmp

# The processes run as this user; /app and the virtualenv belong to root and are read-only to
# it. Rasa unpacks the model under /tmp (a tmpfs or an emptyDir when the root file system is
# read-only).
RUN groupadd --system --gid 10001 cobranza \
 && useradd --system --uid 10001 --gid cobranza --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin cobranza

COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app

USER 10001:10001
# 5005 Rasa, 5055 action server (loopback only), 5006 console, 5080 WhatsApp gateway.
EXPOSE 5005 5006 5080
ENTRYPOINT ["/app/deploy/entrypoint.sh"]
CMD ["cobranza", "--help"]
