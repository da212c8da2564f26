# linekeeper in a container: a multi-stage build, a non-root runtime, a
# health check on /healthz. Not built in CI (no Docker engine there); see
# the README's "Installing the package".
#
#   docker build -t linekeeper .
#   docker run -p 8080:8080 -v linekeeper:/var/lib/linekeeper linekeeper
#
# SQLite in the volume by default; set DATABASE_URL=postgres://... for
# PostgreSQL. Administrative commands run in the same container:
#
#   docker exec -it CONTAINER linekeeper admin accounts

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked && strip target/release/linekeeper

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /var/lib/linekeeper --create-home --shell /usr/sbin/nologin linekeeper
COPY --from=build /src/target/release/linekeeper /usr/bin/linekeeper
USER linekeeper
WORKDIR /var/lib/linekeeper
VOLUME /var/lib/linekeeper
ENV DATABASE_URL=sqlite:///var/lib/linekeeper/linekeeper.db \
    LINEKEEPER_LISTEN=0.0.0.0:8080 \
    LINEKEEPER_LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/healthz >/dev/null || exit 1
ENTRYPOINT ["/usr/bin/linekeeper"]
CMD ["serve"]
