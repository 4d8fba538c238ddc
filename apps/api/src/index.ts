export { buildApp, type AppDeps, type AppOptions } from './app';
export { runApiServer } from './run-server';
