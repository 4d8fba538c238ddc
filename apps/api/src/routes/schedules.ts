import type { ScheduleChange as Change, ScheduleDefinition } from '@sluice/core';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AppDeps } from '../app.js';
import { ErrorBody, UnknownQueueBody } from '../schemas/jobs.js';
import { ScheduleChange, ScheduleCreation, ScheduleListQuery, SchedulePage, ScheduleParams, ScheduleView, TriggeredRun } from '../schemas/schedules.js';

const UnknownScheduleBody = Type.Object(ErrorBody.properties, { description: '`SCHEDULE_NOT_FOUND`: no schedule has that name.' });
const ConflictBody = Type.Object(ErrorBody.properties, {
  description: '`SCHEDULE_EXISTS`: the name is taken (change it with PATCH, or remove it first); `TOO_MANY_SCHEDULES`: the most schedules there may be exist.',
});
const BadScheduleBody = Type.Object(ErrorBody.properties, {
  description: '`INVALID_SCHEDULE` (the definition: cron, time zone, everyMs…), `VALIDATION_ERROR` (the body\'s shape), or the job\'s `UNKNOWN_JOB_TYPE`, `INVALID_JOB`, `TYPE_NOT_ON_QUEUE`.',
});
const errors = { 400: BadScheduleBody, 415: ErrorBody, 503: ErrorBody };
const oneErrors = { ...errors, 404: UnknownScheduleBody };

/** POST/GET /schedules, GET/PATCH/DELETE /schedules/:name, POST /schedules/:name/pause|resume|trigger. */
export const scheduleRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const schedules = deps.queue.schedules;

  app.post(
    '/schedules',
    {
      schema: {
        summary: 'Add a schedule: a job at every tick of a cron or everyMs, exactly once per tick however many workers and APIs run',
        body: ScheduleCreation,
        response: { 201: ScheduleView, ...errors, 404: UnknownQueueBody, 409: ConflictBody },
      },
    },
    async (request, reply) => reply.code(201).send(await schedules.create(request.body as ScheduleDefinition)),
  );

  app.get(
    '/schedules',
    { schema: { summary: 'Schedules by name, with their next ticks and newest runs', querystring: ScheduleListQuery, response: { 200: SchedulePage, ...errors } } },
    async (request) => {
      const { limit, cursor } = request.query;
      return schedules.list({ limit: limit === undefined ? 50 : Number(limit), ...(cursor !== undefined && { cursor }) });
    },
  );

  app.get(
    '/schedules/:name',
    { schema: { summary: 'A schedule with its next ticks and every run kept', params: ScheduleParams, response: { 200: ScheduleView, ...oneErrors } } },
    async (request) => schedules.get(request.params.name),
  );

  app.patch(
    '/schedules/:name',
    {
      schema: {
        summary: 'Change a schedule: the fields given replace its own (a new timing starts at its next tick)',
        params: ScheduleParams,
        body: ScheduleChange,
        response: { 200: ScheduleView, ...oneErrors },
      },
    },
    async (request) => schedules.update(request.params.name, request.body as Change),
  );

  app.delete(
    '/schedules/:name',
    { schema: { summary: 'Remove a schedule and its runs; jobs it added stay', params: ScheduleParams, response: { 204: Type.Null(), ...oneErrors } } },
    async (request, reply) => {
      await schedules.remove(request.params.name);
      return reply.code(204).send(null);
    },
  );

  for (const action of ['pause', 'resume'] as const) {
    app.post(
      `/schedules/:name/${action}`,
      {
        schema: {
          summary: action === 'pause' ? 'Stop a schedule\'s ticks' : 'Let a paused schedule tick again, from its next tick',
          params: ScheduleParams,
          response: { 200: ScheduleView, ...oneErrors },
        },
      },
      async (request) => schedules[action](request.params.name),
    );
  }

  app.post(
    '/schedules/:name/trigger',
    {
      schema: {
        summary: 'Run a schedule once now, paused or not and whatever its overlap: recorded as a manual run',
        params: ScheduleParams,
        response: { 200: TriggeredRun, ...oneErrors },
      },
    },
    async (request) => ({ run: await schedules.trigger(request.params.name) }),
  );
};
