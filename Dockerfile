# syntax=docker/dockerfile:1
# socketgate image: Node 24 LTS on Debian trixie slim (glibc 2.41). The current uWebSockets.js build
# (@btc-vision/uwebsockets.js, uWS v20.57) needs glibc >= 2.38, so not bookworm (2.36); not Alpine
# either: no musl build, and the gateway refuses to start on uWS's slow JavaScript fallback.
# Node 22 works too: --build-arg NODE_IMAGE=node:22-trixie-slim. Details: README "Runtime".
# tests/deploy/dockerfile.test.ts checks this base's glibc against the uWS binary's symbol versions.
ARG NODE_IMAGE=node:24-trixie-slim

# 1. Compile TypeScript with the full dependency set.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts/copy-assets.mjs ./scripts/
RUN npm run build

# 2. Production dependencies only (native uWebSockets.js binary included).
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# 3. Runtime: no compiler, no npm cache, non-root, nothing written outside /tmp.
FROM ${NODE_IMAGE}
# tini as PID 1 forwards SIGTERM to Node (which handles it: the drain) and reaps zombies.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# Numeric user (the image's "node" user) so Kubernetes can verify runAsNonRoot.
USER 1000:1000
EXPOSE 3000 9090
ENTRYPOINT ["/usr/bin/tini", "--"]
# Node directly, not `npm start`: npm would rebuild and does not forward signals reliably.
CMD ["node", "dist/main.js"]
