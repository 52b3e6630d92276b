# syntax=docker/dockerfile:1
# hubgate image: build with the full toolchain, run with production dependencies only, as a non-root user.
#   docker build -t hubgate:0.1.0 .
#   docker run --env-file /etc/hubgate/hubgate.env -p 8080:8080 hubgate:0.1.0

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: compile TypeScript (src/ and adapters/ -> dist/) -------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY adapters ./adapters
# the console's front end (web/ -> dist/console/, bundled by esbuild: no runtime dependency)
COPY web ./web
COPY scripts/build-console.mjs ./scripts/
RUN npm run build

# ---- production dependencies only -----------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# ---- runtime --------------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# MALLOC_TOP_PAD_: glibc keeps 64 MiB at the top of its heap instead of handing freed blob buffers back to the
# kernel and faulting them in again (src/runtime.ts MALLOC_ENV says why; docs/registry.md, Performance, the numbers).
ENV NODE_ENV=production \
    MALLOC_TOP_PAD_=67108864 \
    HUBGATE_PORT=8080 \
    HUBGATE_HOST=0.0.0.0
WORKDIR /app
# package.json is read at run time for the version (hubgate_build_info).
COPY --chown=root:root package.json ./
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
# The image's "node" user (uid/gid 1000); the Helm chart runs the same ids with a read-only root filesystem.
USER node:node
EXPOSE 8080
# Liveness only (/healthz); readiness (/readyz) depends on Harbor and belongs to the orchestrator.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.HUBGATE_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node is PID 1 and receives SIGTERM directly: hubgate drains in-flight requests (HUBGATE_SHUTDOWN_TIMEOUT_MS).
STOPSIGNAL SIGTERM
CMD ["node", "dist/src/main.js"]
