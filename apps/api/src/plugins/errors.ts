import {
  InvalidJobError, InvalidLimitsError, InvalidScheduleError, JobNotFoundError, JobStateConflictError, NotReplicatedError, PostgresUnavailableError, QueueNotFoundError,
  RedisInfoRefusedError, RedisUnavailableError, ScheduleConflictError, ScheduleNotFoundError, SluiceError, describeSchemaError,
} from '@sluice/core';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifySchemaValidationError, preHandlerAsyncHookHandler } from 'fastify';
import { describeDependencyFailure } from '../dependency-failure.js';

/**
 * Sends the contract's error body. A 5xx also carries the request's id, in `requestId` and in the
 * sentence a person would quote, and names nothing internal: the detail is in the log under that id.
 */
export function sendError(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  if (status < 500) return reply.code(status).send({ error: { code, message } });
  const requestId = reply.request.id;
  return reply.code(status).header('x-request-id', requestId).send({ error: { code, message: `${message} Request id ${requestId}.`, requestId } });
}

/** What a client is told when a dependency fails: which one, and why in words that name no host. */
function unavailableMessage(error: SluiceError): string {
  const dependency = error instanceof PostgresUnavailableError ? 'PostgreSQL' : 'Redis';
  return `${dependency} is not answering (${describeDependencyFailure(error)}); try again in a moment.`;
}

/** Fastify's own client errors, with the sentence that tells a person what to fix. */
const FASTIFY_CLIENT_ERRORS: Record<string, [number, string, string]> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'UNSUPPORTED_MEDIA_TYPE', 'Send the body as JSON with the header Content-Type: application/json.'],
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'BODY_TOO_LARGE', 'The request body is larger than this server accepts.'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'INVALID_JSON', 'The body is empty; send a JSON object.'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'INVALID_REQUEST', 'The Content-Length header does not match the body.'],
};

/** Status of each domain error the routes let through. */
function statusOf(error: SluiceError): number {
  if (error instanceof InvalidJobError || error instanceof InvalidLimitsError || error instanceof InvalidScheduleError) return 400;
  if (error instanceof JobNotFoundError || error instanceof QueueNotFoundError || error instanceof ScheduleNotFoundError) return 404;
  if (error instanceof JobStateConflictError || error instanceof ScheduleConflictError) return 409;
  if (error instanceof RedisUnavailableError || error instanceof PostgresUnavailableError || error instanceof NotReplicatedError || error instanceof RedisInfoRefusedError) return 503;
  return 500;
}

/**
 * Errors the router raises before any route runs (a malformed or overlong path), which Fastify does
 * not pass to the error handler: the same contract, and no echo of the offending path.
 */
export function routingError(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    void sendError(reply, 414, 'URI_TOO_LONG', 'A path segment is longer than any id or name this API uses.');
    return;
  }
  void sendError(reply, 400, 'BAD_URL', 'The path is not a valid URL: check its percent-encoding.');
}

/** Maps every error to the contract's body; nothing a client sends may turn into a 500. */
export function registerErrorHandling(app: FastifyInstance): void {
  app.setSchemaErrorFormatter((errors: FastifySchemaValidationError[], dataVar: string) => {
    const root = dataVar === 'body' ? '' : dataVar === 'params' ? '' : dataVar;
    const message = describeSchemaError(root || 'body', errors[0] as Parameters<typeof describeSchemaError>[1]);
    return new Error(root === '' && message.startsWith('body.') ? message.slice(5) : message);
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error.validation) return sendError(reply, 400, 'VALIDATION_ERROR', error.message);
    if (error instanceof SluiceError) {
      const status = statusOf(error);
      if (status < 500) return sendError(reply, status, error.code, error.message);
      // Redis answers but refuses INFO: what to grant, not "try again", which would not help.
      if (error instanceof RedisInfoRefusedError) return sendError(reply, status, error.code, error.message);
      if (status === 503) {
        request.log.warn({ err: error.message, code: error.code }, 'dependency unavailable');
        return sendError(reply, status, error.code, unavailableMessage(error));
      }
    }
    const known = error.code ? FASTIFY_CLIENT_ERRORS[error.code] : undefined;
    if (known) return sendError(reply, known[0], known[1], known[2]);
    if (error instanceof SyntaxError || error.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
      return sendError(reply, 400, 'INVALID_JSON', `The body is not valid JSON: ${error.message}`);
    }
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      const code = error.code && !error.code.startsWith('FST_') ? error.code : 'BAD_REQUEST';
      return sendError(reply, error.statusCode, code, error.message);
    }
    request.log.error({ err: error }, 'unexpected error');
    return sendError(reply, 500, 'INTERNAL', 'Something went wrong on our side; the error has been logged.');
  });
}

/** The 404 for unknown routes, behind `limit` (the rate limiter) when there is one, so guessing paths costs the same as calling them. */
export function registerNotFound(app: FastifyInstance, limit?: preHandlerAsyncHookHandler): void {
  const handler = (request: FastifyRequest, reply: FastifyReply) => sendError(reply, 404, 'NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}.`);
  if (limit) app.setNotFoundHandler({ preHandler: limit }, handler);
  else app.setNotFoundHandler(handler);
}
