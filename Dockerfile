# Build stage: compile the release binary.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY csrc csrc
COPY src src
COPY benches benches
RUN cargo build --release --locked --bin ferrocache

# Run stage: a slim image with only the binary and its config.
FROM debian:bookworm-slim
RUN useradd --system --uid 999 --home-dir /data ferrocache \
    && mkdir -p /data /etc/ferrocache \
    && chown ferrocache:ferrocache /data
COPY --from=build /src/target/release/ferrocache /usr/local/bin/ferrocache
COPY config/ferrocache.conf /etc/ferrocache/ferrocache.conf
VOLUME /data
WORKDIR /data
USER ferrocache
EXPOSE 6379
# Liveness: a raw RESP PING over bash's /dev/tcp (no redis-cli in the image).
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
    CMD bash -c 'exec 3<>/dev/tcp/127.0.0.1/6379 && printf "PING\r\n" >&3 && head -c 7 <&3 | grep -q PONG'
CMD ["ferrocache", "/etc/ferrocache/ferrocache.conf", "--bind", "0.0.0.0", "--protected-mode", "no", "--dir", "/data"]
