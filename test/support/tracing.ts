import { context, propagation, trace, type SpanContext } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';

/** An OpenTelemetry SDK registered globally for a test process, as an application would register its own. */
export interface TestTracing {
  /** Every span ended so far. */
  spans(): ReadableSpan[];
  /** Unregisters it all. */
  close(): Promise<void>;
}

/**
 * Registers a tracer provider sending every span to `exporter` as it ends, an AsyncLocalStorage
 * context manager and the W3C propagator: what `@opentelemetry/sdk-node` sets up, without export.
 */
export function registerTracing(exporter: SpanExporter & { getFinishedSpans?(): ReadableSpan[] } = new InMemorySpanExporter()): TestTracing {
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  return {
    spans: () => exporter.getFinishedSpans?.() ?? [],
    async close() {
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

/** The W3C traceparent of a span context (sampled). */
export function traceparentOf({ traceId, spanId }: Pick<SpanContext, 'traceId' | 'spanId'>): string {
  return `00-${traceId}-${spanId}-01`;
}
