import { describe, expect, it } from 'vitest';
import type { JsonSchema } from '../src/api/types';
import { fieldsOf, payloadOf } from '../src/pages/schema-payload';

const webhook: JsonSchema = {
  type: 'object',
  required: ['url'],
  properties: {
    url: { type: 'string', format: 'uri' },
    method: { anyOf: [{ type: 'string', const: 'GET' }, { type: 'string', const: 'POST' }] },
    headers: { type: 'object' },
    retries: { type: 'integer', minimum: 0 },
    dryRun: { type: 'boolean' },
  },
  additionalProperties: false,
};

describe('the submit form', () => {
  it('has a field per property, edited as its schema says', () => {
    expect(fieldsOf(webhook).map((field) => [field.name, field.required, field.edit])).toEqual([
      ['url', true, { kind: 'string' }],
      ['method', false, { kind: 'choice', options: ['GET', 'POST'] }],
      ['headers', false, { kind: 'json' }],
      ['retries', false, { kind: 'integer' }],
      ['dryRun', false, { kind: 'boolean' }],
    ]);
    expect(fieldsOf({ type: 'object', additionalProperties: true })).toEqual([]);
  });

  it('makes a payload of the values, leaving empty optional fields out', () => {
    const fields = fieldsOf(webhook);
    expect(payloadOf(fields, { url: ' https://example.com ', method: '', retries: '3', headers: '{"x-a":"1"}', dryRun: true })).toEqual({
      url: 'https://example.com', retries: 3, headers: { 'x-a': '1' }, dryRun: true,
    });
    expect(payloadOf(fields, { url: 'https://example.com', dryRun: false })).toEqual({ url: 'https://example.com' });
  });

  it('names the field to fix', () => {
    const fields = fieldsOf(webhook);
    expect(() => payloadOf(fields, {})).toThrow('url is required.');
    expect(() => payloadOf(fields, { url: 'x', retries: 'many' })).toThrow('retries must be a number.');
    expect(() => payloadOf(fields, { url: 'x', headers: '{' })).toThrow('headers is not valid JSON.');
  });
});
