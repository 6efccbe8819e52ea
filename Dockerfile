# syntax=docker/dockerfile:1
# MeshMon Collector image: linux/arm64 for a Raspberry Pi 4/5, linux/amd64 too.
# Built and run by compose.yaml; it needs DATABASE_URL (the image carries no
# embedded PostgreSQL).
ARG BUN_VERSION=1.4.5
ARG NODE_VERSION=20

# Production dependencies, installed by npm from package-lock.json. Only
# JavaScript is needed: no optional packages (the embedded PostgreSQL
# binaries), no install scripts. So this stage runs on the build machine's own
# architecture, with no emulation, whatever the target is.
FROM --platform=$BUILDPLATFORM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

FROM oven/bun:${BUN_VERSION}-slim
WORKDIR /app
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    DATA_DIR=/app/data
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY db/migrations ./db/migrations
COPY src ./src
# The image's unprivileged user; DATA_DIR is the one place it writes.
# `docker compose exec collector meshmon status` runs the CLI.
RUN mkdir -p /app/data && chown bun:bun /app/data \
 && ln -s /app/bin/meshmon /usr/local/bin/meshmon
USER bun
EXPOSE 8080
# The slim image has no curl: Bun's fetch does the probe. 503 (database down or unable to write, engine failing) counts as unhealthy.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["bun", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The collector drains requests, stops jobs and closes the pool on SIGTERM.
STOPSIGNAL SIGTERM
CMD ["bun", "src/index.ts"]
