# llm-endpoint-monitor: the daemon (`llm-monitor run`) with its HTTP server (/metrics, /healthz,
# the API) on port 9464.
#
#   docker build -t llm-endpoint-monitor .
#   docker run -p 9464:9464 -e OPENAI_API_KEY \
#     -v "$PWD/monitor.yaml:/etc/llm-monitor/monitor.yaml:ro" -v llm-monitor-data:/var/lib/llm-monitor \
#     llm-endpoint-monitor
#
# The mounted config must listen on all interfaces (server.host: 0.0.0.0) to be reachable from
# outside the container. SQLite stores (the default sqlite:///monitor.db included) live in the
# data volume, the working directory; PostgreSQL is supported too (the image has psycopg).

FROM python:3.11-slim-bookworm AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/llm-monitor
WORKDIR /src
COPY pyproject.toml README.md ./
COPY monitor ./monitor
RUN /opt/llm-monitor/bin/pip install --no-cache-dir ".[postgres]"


FROM python:3.11-slim-bookworm

RUN groupadd --system --gid 10001 llm-monitor \
    && useradd --system --uid 10001 --gid llm-monitor --no-create-home \
        --home-dir /var/lib/llm-monitor --shell /usr/sbin/nologin llm-monitor \
    && mkdir -p /etc/llm-monitor /var/lib/llm-monitor \
    && chown llm-monitor:llm-monitor /var/lib/llm-monitor

COPY --from=build /opt/llm-monitor /opt/llm-monitor

ENV PATH=/opt/llm-monitor/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LLM_MONITOR_CONFIG=/etc/llm-monitor/monitor.yaml \
    LLM_MONITOR_HEALTHCHECK_URL=http://127.0.0.1:9464/healthz

WORKDIR /var/lib/llm-monitor
VOLUME ["/var/lib/llm-monitor"]
# Numeric, so that Kubernetes runAsNonRoot can verify it without /etc/passwd.
USER 10001:10001
EXPOSE 9464

# No curl in the slim image: Python's urllib asks /healthz (set LLM_MONITOR_HEALTHCHECK_URL when
# the config uses another port).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; sys.exit(0 if urllib.request.urlopen(os.environ['LLM_MONITOR_HEALTHCHECK_URL'], timeout=4).status == 200 else 1)"]

ENTRYPOINT ["llm-monitor"]
CMD ["run"]
