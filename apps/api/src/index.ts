export { buildApp, type AppDeps, type AppOptions } from './app.js';
export { runApiServer } from './run-server.js';
