import { context, propagation, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';

const tracer = trace.getTracer('@sluice/jobs');

/**
 * Starts the client span of a webhook's request, per OpenTelemetry's HTTP semantic conventions, a
 * child of the running attempt's span, and puts its trace context into `headers` with the
 * application's propagator (none without an SDK): the target's own spans then join the job's
 * trace. A header of the job's that the propagator sets (traceparent, say) is replaced, in any case.
 * `url.full` leaves the query out, which may carry secrets.
 */
export function startWebhookSpan(method: string, url: URL, headers: Record<string, string>): Span {
  const span = tracer.startSpan(method, {
    kind: SpanKind.CLIENT,
    attributes: {
      'http.request.method': method,
      'server.address': url.hostname.replace(/^\[|\]$/g, ''),
      'server.port': Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
      'url.full': `${url.origin}${url.pathname}`,
      'url.scheme': url.protocol.slice(0, -1),
    },
  });
  const carrier: Record<string, string> = {};
  propagation.inject(trace.setSpan(context.active(), span), carrier);
  for (const name of Object.keys(carrier)) {
    for (const given of Object.keys(headers)) if (given.toLowerCase() === name) delete headers[given];
    headers[name] = carrier[name] as string;
  }
  return span;
}

/** Ends a webhook's span with the answer's status (4xx and 5xx are errors), or the error it got instead. */
export function endWebhookSpan(span: Span, outcome: { status: number } | { error: unknown }): void {
  if (!span.isRecording()) return;
  if ('status' in outcome) {
    span.setAttribute('http.response.status_code', outcome.status);
    if (outcome.status >= 400) {
      span.setStatus({ code: SpanStatusCode.ERROR });
      span.setAttribute('error.type', String(outcome.status));
    }
  } else {
    const { error } = outcome;
    span.recordException(error instanceof Error ? error : String(error));
    span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
    span.setAttribute('error.type', error instanceof Error ? error.constructor.name : typeof error);
  }
  span.end();
}
