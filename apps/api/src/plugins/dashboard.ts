import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { sendError } from './errors.js';

/** The dashboard's workspace, beside this package's in a checkout of the repository (from src/ or dist/ alike). */
const DASHBOARD_WORKSPACE = new URL('../../../dashboard/', import.meta.url);

/** Where `npm run build:dashboard` writes the dashboard in a checkout of the repository. */
export const DASHBOARD_BUILD_DIR = fileURLToPath(new URL('dist', DASHBOARD_WORKSPACE));

/**
 * The dashboard served when none is configured: the checkout's build, or none for an API installed
 * from the registry, which the dashboard (a private workspace) never comes with.
 */
const DEFAULT_DASHBOARD_DIR = existsSync(fileURLToPath(new URL('package.json', DASHBOARD_WORKSPACE))) ? DASHBOARD_BUILD_DIR : undefined;

/** The URL path the dashboard is served under. */
export const DASHBOARD_PATH = '/dashboard/';

/**
 * Serves the built dashboard at /dashboard/ and sends / there. The files hold no data (every number
 * comes from the API, with the key), so they are served without one. Built file names carry a hash
 * of their content and are cached for good; index.html is revalidated so a new build shows at once.
 */
export async function registerDashboard(app: FastifyInstance, root = DEFAULT_DASHBOARD_DIR): Promise<void> {
  const hide = { schema: { hide: true } };
  app.get('/', hide, (_request, reply) => reply.redirect(DASHBOARD_PATH));
  app.get('/dashboard', hide, (_request, reply) => reply.redirect(DASHBOARD_PATH));
  if (root === undefined) {
    app.get(`${DASHBOARD_PATH}*`, hide, (_request, reply) =>
      sendError(reply, 404, 'NO_DASHBOARD', 'This API serves no dashboard: set DASHBOARD_DIR to the folder of a built Sluice dashboard.'),
    );
    return;
  }
  if (!existsSync(join(root, 'index.html'))) {
    app.get(`${DASHBOARD_PATH}*`, hide, (_request, reply) =>
      sendError(
        reply,
        503,
        'DASHBOARD_NOT_BUILT',
        'The dashboard has not been built: run `npm run build:dashboard` (npm start does it for you), or point DASHBOARD_DIR at a built one.',
      ),
    );
    return;
  }
  await app.register(fastifyStatic, {
    root,
    prefix: DASHBOARD_PATH,
    decorateReply: false,
    setHeaders(response, path) {
      response.header('cache-control', path.endsWith('.html') ? 'no-cache' : 'public, max-age=31536000, immutable');
    },
  });
}
