/**
 * The job type bench/rate-limit.ts runs in its worker processes (`sluice worker bench/rate-limited-jobs.ts`):
 * `metered`, limited to 100 starts a second across every worker, whose handler does nothing.
 */
import { defineJobType } from '@sluice/core';
import { Type } from 'typebox';

export const RATE = { max: 100, perMs: 1000 };

export const types = [defineJobType({ name: 'metered', payload: Type.Object({}), limits: { rate: RATE } })];

export const handlers = { metered: () => undefined };
