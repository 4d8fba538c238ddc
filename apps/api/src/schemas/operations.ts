import { MAX_LISTED_WORKERS, MAX_REPORTED_JOBS } from '@sluice/core';
import { Type } from 'typebox';

const Ms = (description: string) => Type.Integer({ description });

/** One live worker, as GET /workers lists it. */
export const WorkerProcessView = Type.Object({
  name: Type.String({ description: 'The worker\'s consumer name (WORKER_NAME).' }),
  hostname: Type.String(),
  pid: Type.Integer(),
  rssBytes: Type.Integer({ description: 'Resident memory of the worker\'s process.' }),
  version: Type.String({ description: 'The version of @sluice/core it runs.' }),
  startedAt: Ms('When it started (ms since the epoch).'),
  seenAt: Ms('When it last reported, about every 5 s (ms since the epoch).'),
  queues: Type.Array(Type.String()),
  concurrency: Type.Integer({ description: 'Jobs it runs at once at most.' }),
  draining: Type.Boolean({ description: 'It is stopping: it finishes what it runs and takes nothing new.' }),
  runningCount: Type.Integer({ minimum: 0, description: 'Jobs it runs now.' }),
  running: Type.Array(
    Type.Object({ id: Type.String(), type: Type.String(), queue: Type.String(), attempt: Type.Integer(), startedAt: Ms('When this attempt started (ms since the epoch).') }),
    { description: `What it runs now, oldest first; the first ${MAX_REPORTED_JOBS}.` },
  ),
});

export const WorkersBody = Type.Object({
  workers: Type.Array(WorkerProcessView, { description: `Live workers, those that reported last first; at most ${MAX_LISTED_WORKERS}.` }),
});

const RedisNodeView = Type.Object({
  name: Type.String({ description: '"node" for one Redis, "master i of n" for each master of a cluster.' }),
  role: Type.String(),
  version: Type.String(),
  usedMemoryBytes: Type.Integer(),
  maxMemoryBytes: Type.Integer({ description: '0: no limit.' }),
  maxMemoryPolicy: Type.String({ description: 'A queue needs noeviction: any other policy may evict jobs when memory runs out.' }),
  opsPerSecond: Type.Integer(),
  connectedClients: Type.Integer(),
  uptimeSeconds: Type.Integer(),
});

const HistoryView = Type.Object({
  backlog: Type.Integer({ description: 'Events-stream entries waiting for PostgreSQL, across queues.' }),
  lagMs: Type.Integer({ description: 'Age of the oldest event not yet in PostgreSQL, across queues.' }),
  setAside: Type.Integer({ description: 'Events PostgreSQL refused for their content, set aside in Redis.' }),
  queues: Type.Record(Type.String(), Type.Object({ backlog: Type.Integer(), lagMs: Type.Integer(), setAside: Type.Integer() })),
});

export const SystemBody = Type.Object({
  redis: Type.Object({ nodes: Type.Array(RedisNodeView) }),
  history: HistoryView,
});
