# One image for every role: `serve` (HTTP + SOAP), `worker` (outbox), `migrate`.
# The schemas are read from the source tree next to the package, so the tree is installed in place.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    GATEWAY_VAR_DIR=/var/lib/gateway

RUN groupadd --system gateway && useradd --system --gid gateway --home-dir /app gateway \
    && mkdir -p /var/lib/gateway && chown gateway:gateway /var/lib/gateway

WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY outbox ./outbox
COPY mappings ./mappings
COPY schemas ./schemas
COPY catalogue ./catalogue
RUN pip install -e . && python -m compileall -q gateway outbox mappings

USER gateway
VOLUME ["/var/lib/gateway"]
EXPOSE 8080
# Set GATEWAY_PUBLIC_URL (e.g. https://gateway.example.fi) to the address market parties use: the WSDL names it.
ENTRYPOINT ["gateway"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
