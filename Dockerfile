# A small non-root image that runs the Descent Lab server on port 8000.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    DESCENT_LAB_HOST=0.0.0.0 DESCENT_LAB_PORT=8000 \
    DESCENT_LAB_DATA_DIR=/data \
    PYTHONPATH=/app
COPY --from=build /install /usr/local
WORKDIR /app
COPY static ./static
COPY templates ./templates
COPY app ./app
RUN useradd --system --uid 10001 --home-dir /app descent \
    && mkdir -p /data && chown descent /data
USER descent
EXPOSE 8000
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["descent-lab", "serve"]
