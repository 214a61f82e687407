# image: registry.example.com/anpr/frontend
# The gRPC front end (`anpr serve`): no models, no PyTorch and no tritonserver (the `local-triton`
# extra) here; Triton runs in its own pods (k8s/base/triton.yaml) and the front end reaches it at
# `triton_url` (k8s/base/anpr.toml).
#
#   docker build -f deploy/images/frontend.Dockerfile -t registry.example.com/anpr/frontend:0.1.0 .
#
# The tag is the package version in pyproject.toml; k8s/base/frontend.yaml names it.
FROM python:3.11.11-slim-bookworm AS wheels
WORKDIR /src
COPY pyproject.toml README.md ./
COPY server server
COPY training training
COPY benchmarks benchmarks
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11.11-slim-bookworm
COPY --from=wheels /wheels /wheels
RUN pip install --no-cache-dir --no-index /wheels/*.whl \
    && rm -rf /wheels \
    && useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin anpr
USER 10001
EXPOSE 50051 50052 9464
ENTRYPOINT ["anpr"]
CMD ["serve", "--config", "/etc/anpr/config/anpr.toml"]
