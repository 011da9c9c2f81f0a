# CloudShop storefront: one static binary, nothing else.
# Built by `cloudshop images` with only bin/storefront in the context
# (the binary from `cloudshop build`: static, stripped, cargo-auditable).
FROM scratch

ARG REVISION=unknown
ARG VERSION=0.0.0
ARG CREATED=1970-01-01T00:00:00Z

LABEL org.opencontainers.image.title="cloudshop-storefront" \
      org.opencontainers.image.description="The CloudShop storefront: HTML pages over the API gateway" \
      org.opencontainers.image.source="https://github.com/cloudshop/cloudshop" \
      org.opencontainers.image.url="https://github.com/cloudshop/cloudshop" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="CloudShop"

COPY --chown=0:0 --chmod=0555 bin/storefront /storefront

USER 65532:65532
EXPOSE 3000 9000
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/storefront", "healthcheck"]
ENTRYPOINT ["/storefront"]
