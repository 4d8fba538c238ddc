import process from 'node:process';
import { createWorker, defineJobType, PermanentJobError, type JobHandler, type PayloadOf } from '@sluice/core';
import { Type } from 'typebox';

/** The sizing step of a thumbnail service: fit an image within a square box, keeping its proportions. */
const resize = defineJobType({
  name: 'resize',
  description: 'Fits an image of width × height within a box of maxSide, keeping its proportions.',
  payload: Type.Object(
    {
      width: Type.Integer({ minimum: 1, maximum: 100_000 }),
      height: Type.Integer({ minimum: 1, maximum: 100_000 }),
      maxSide: Type.Integer({ minimum: 1, maximum: 10_000 }),
      upscale: Type.Optional(Type.Boolean()),
    },
    { additionalProperties: false },
  ),
  retry: { maxAttempts: 3, baseDelayMs: 500 },
  timeoutMs: 10_000,
});

// PayloadOf turns the TypeBox schema into the payload's type: { width: number; height: number; maxSide: number; upscale?: boolean }.
const resizeHandler: JobHandler<PayloadOf<typeof resize>> = async ({ payload, progress }) => {
  const scale = payload.maxSide / Math.max(payload.width, payload.height);
  // Retrying cannot change the answer, so this job goes straight to the dead letters.
  if (scale > 1 && !payload.upscale) throw new PermanentJobError(`the image already fits within ${payload.maxSide} px; set upscale to enlarge it`);
  await progress({ scale });
  return { width: Math.max(1, Math.round(payload.width * scale)), height: Math.max(1, Math.round(payload.height * scale)) };
};

const sluice = await createWorker({ types: [resize], handlers: { resize: resizeHandler } });

// Finish the jobs in flight and record their history before exiting; a second signal exits at once.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void sluice.close());
