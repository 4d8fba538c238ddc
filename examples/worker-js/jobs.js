// Job types for `sluice worker ./jobs.js`: the command imports `types` and `handlers` and runs a
// worker for them. The API can also read `types` from here (JOB_TYPES_FILE) to accept the jobs
// before any such worker runs.
import { defineJobType } from '@sluice/core';

export const types = [
  defineJobType({
    name: 'slugify',
    description: 'Turns a title into the lowercase, hyphenated form used in URLs.',
    payload: {
      type: 'object',
      properties: { title: { type: 'string', minLength: 1, maxLength: 200 } },
      required: ['title'],
      additionalProperties: false,
    },
  }),
];

export const handlers = {
  slugify: ({ payload }) => ({
    slug: payload.title
      .normalize('NFKD')
      .replace(/\p{M}/gu, '')
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, ''),
  }),
};
