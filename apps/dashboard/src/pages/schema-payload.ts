import type { JsonSchema } from '../api/types';

/** How one payload field is edited. */
export type FieldKind = { kind: 'integer' | 'number' | 'string' | 'boolean' | 'json' } | { kind: 'choice'; options: string[] };

/** A field of the form: its name, schema, whether required, and how it is edited. */
export interface Field {
  name: string;
  schema: JsonSchema;
  required: boolean;
  edit: FieldKind;
}

function choicesOf(schema: JsonSchema): string[] | undefined {
  if (schema.enum?.every((value) => typeof value === 'string')) return schema.enum as string[];
  const constants = schema.anyOf?.map((option) => option.const);
  if (constants?.length && constants.every((value) => typeof value === 'string')) return constants as string[];
  return undefined;
}

function editOf(schema: JsonSchema): FieldKind {
  const options = choicesOf(schema);
  if (options) return { kind: 'choice', options };
  if (schema.type === 'integer' || schema.type === 'number' || schema.type === 'string' || schema.type === 'boolean') return { kind: schema.type };
  return { kind: 'json' };
}

/** The form's fields, read from a payload schema; a schema without properties is edited as one JSON value. */
export function fieldsOf(schema: JsonSchema): Field[] {
  return Object.entries(schema.properties ?? {}).map(([name, property]) => ({
    name,
    schema: property,
    required: schema.required?.includes(name) ?? false,
    edit: editOf(property),
  }));
}

/** The payload the form's raw values stand for; empty optional fields are left out. Throws a message naming the field to fix. */
export function payloadOf(fields: Field[], values: Record<string, string | boolean>): Record<string, unknown> {
  const payload: Record<string, unknown> = {};
  for (const field of fields) {
    const raw = values[field.name];
    if (field.edit.kind === 'boolean') {
      if (raw === true || field.required) payload[field.name] = raw === true;
      continue;
    }
    const text = typeof raw === 'string' ? raw.trim() : '';
    if (text === '') {
      if (field.required) throw new Error(`${field.name} is required.`);
      continue;
    }
    if (field.edit.kind === 'integer' || field.edit.kind === 'number') {
      const value = Number(text);
      if (!Number.isFinite(value)) throw new Error(`${field.name} must be a number.`);
      payload[field.name] = value;
    } else if (field.edit.kind === 'json') {
      try {
        payload[field.name] = JSON.parse(text) as unknown;
      } catch {
        throw new Error(`${field.name} is not valid JSON.`);
      }
    } else {
      payload[field.name] = text;
    }
  }
  return payload;
}
