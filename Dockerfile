# syntax=docker/dockerfile:1
#
# The webhooks sidecar image: two stages.
#   build    npm ci (with dev dependencies), buf + tsc into dist/, then npm prune --omit=dev
#   runtime  Node slim + tini, the pruned node_modules, dist/src, dist/db, proto/; runs as 10001
#
# Production dependencies come from pruning the build stage rather than from a second
# `npm ci --omit=dev`: better-sqlite3 is then compiled once (about 2 minutes on 2 cores when no
# prebuilt binary can be fetched) and the tree is the lockfile's minus its dev dependencies.
# test/e2e/dockerfile.test.ts runs these steps without a Docker engine; see README "Docker".

ARG NODE_IMAGE=node:20.20-bookworm-slim

FROM ${NODE_IMAGE} AS build
# Compilers for better-sqlite3 when no prebuilt binary matches the platform.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# Dependencies first, so that a source change reuses the installed layer.
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY buf.yaml buf.gen.yaml tsconfig.json ./
COPY proto ./proto
COPY db ./db
COPY src ./src
RUN npm run build
RUN npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
# tini as PID 1: forwards SIGTERM to node (graceful shutdown) and reaps zombies. A numeric,
# unprivileged user, so that Kubernetes' runAsNonRoot can verify it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 webhooks \
 && useradd --system --uid 10001 --gid webhooks --home-dir /app --no-create-home --shell /usr/sbin/nologin webhooks
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/db ./dist/db
# The API's .proto files, for clients that compile them. Server reflection does not read them: it
# serves the descriptor sets that `npm run build` writes into dist/src/grpc/ (copied above).
COPY --from=build /app/proto ./proto
# Embedded mode (the default sqlite:./data/webhooks.db) writes here; MySQL mode writes nothing.
RUN mkdir -p /app/data && chown 10001:10001 /app/data
USER 10001:10001
# gRPC (WEBHOOKS_GRPC_ADDR), then /metrics, /healthz and /readyz (WEBHOOKS_METRICS_ADDR).
EXPOSE 50051 9464
# /healthz on the metrics port: it answers whether or not gRPC uses TLS.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "dist/src/cli/main.js", "health", "--http", "--timeout", "3s"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/src/main.js"]
