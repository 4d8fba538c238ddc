# syntax=docker/dockerfile:1

# Build stage: every dependency, development tools included, to compile the packages and the dashboard.
FROM node:20-bookworm-slim AS build

WORKDIR /app

# Manifests first: the dependency layer is rebuilt only when one of them changes, not on every
# source edit. Every workspace's package.json is needed for `npm ci` to link the workspaces.
COPY package.json package-lock.json ./
COPY packages/cli/package.json packages/cli/
COPY packages/core/package.json packages/core/
COPY packages/jobs/package.json packages/jobs/
COPY apps/api/package.json apps/api/
COPY apps/worker/package.json apps/worker/
COPY apps/dashboard/package.json apps/dashboard/
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund

COPY . .
# The packages' dist/ folders, and the dashboard's static files in apps/dashboard/dist.
RUN npm run build

# Runtime stage: the built JavaScript and the production dependencies of the programs it runs (the
# API, the worker and the sluice command line), nothing to compile or test with.
FROM node:20-bookworm-slim AS runtime

ENV NODE_ENV=production
WORKDIR /app

COPY package.json package-lock.json ./
COPY packages/cli/package.json packages/cli/
COPY packages/core/package.json packages/core/
COPY packages/jobs/package.json packages/jobs/
COPY apps/api/package.json apps/api/
COPY apps/worker/package.json apps/worker/
COPY apps/dashboard/package.json apps/dashboard/
# --omit=optional as well: npm keeps a development tool that is also some dependency's optional peer
# (drizzle-orm's @types/pg), and the services load no optional extra (pg's Cloudflare socket).
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --omit=optional --no-audit --no-fund \
  --workspace @sluice/cli --workspace @sluice/api --workspace @sluice/worker

COPY --from=build /app/packages/cli/dist packages/cli/dist
COPY --from=build /app/packages/core/dist packages/core/dist
COPY --from=build /app/packages/core/drizzle packages/core/drizzle
COPY --from=build /app/packages/jobs/dist packages/jobs/dist
COPY --from=build /app/apps/api/dist apps/api/dist
COPY --from=build /app/apps/worker/dist apps/worker/dist
COPY --from=build /app/apps/dashboard/dist apps/dashboard/dist

# The API serves the dashboard's files at /dashboard/.
ENV DASHBOARD_DIR=/app/apps/dashboard/dist

# Files stay owned by root, so the service cannot modify its own code or dependencies.
USER node

EXPOSE 3000

CMD ["node", "apps/api/dist/server.js"]
