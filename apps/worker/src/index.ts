export { runWorkerProcess, type HandlersOption, type WorkerProcessOptions } from './worker-process.js';
