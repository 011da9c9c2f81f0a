# CloudShop api-gateway: one static binary, nothing else.
# Built by `cloudshop images` with only bin/api-gateway in the context
# (the binary from `cloudshop build`: static, stripped, cargo-auditable).
FROM scratch

ARG REVISION=unknown
ARG VERSION=0.0.0
ARG CREATED=1970-01-01T00:00:00Z

LABEL org.opencontainers.image.title="cloudshop-api-gateway" \
      org.opencontainers.image.description="The CloudShop API gateway: TLS edge, JWT check, routing" \
      org.opencontainers.image.source="https://github.com/cloudshop/cloudshop" \
      org.opencontainers.image.url="https://github.com/cloudshop/cloudshop" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="CloudShop"

COPY --chown=0:0 --chmod=0555 bin/api-gateway /api-gateway

USER 65532:65532
EXPOSE 8080 9080
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/api-gateway", "healthcheck"]
ENTRYPOINT ["/api-gateway"]
