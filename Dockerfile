# syntax=docker/dockerfile:1
FROM node:20-bookworm-slim

WORKDIR /app

# Manifests first: the dependency layer is rebuilt only when one of them changes, not on every
# source edit. Every workspace's package.json is needed for `npm ci` to link the workspaces.
COPY package.json package-lock.json ./
COPY packages/core/package.json packages/core/
COPY packages/jobs/package.json packages/jobs/
COPY apps/api/package.json apps/api/
COPY apps/worker/package.json apps/worker/
COPY apps/dashboard/package.json apps/dashboard/

# Development dependencies stay: the services run their TypeScript through tsx, with no build step.
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund

COPY . .

# The dashboard's static files, which the API serves at /dashboard/.
RUN npm run build:dashboard

# Files stay owned by root, so the service cannot modify its own code or dependencies.
USER node

EXPOSE 3000

CMD ["node", "--import", "tsx", "apps/api/src/server.ts"]
