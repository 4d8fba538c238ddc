import type { JsonSchema } from '../api/types';
import type { Field } from './schema-payload';

function hint(schema: JsonSchema): string {
  const parts = [schema.format, schema.minimum !== undefined && `≥ ${schema.minimum}`, schema.maximum !== undefined && `≤ ${schema.maximum}`, schema.maxLength !== undefined && `≤ ${schema.maxLength} characters`];
  return parts.filter(Boolean).join(', ');
}

/** One input per field, of the kind its schema calls for. */
export function SchemaFields({ fields, values, change }: { fields: Field[]; values: Record<string, string | boolean>; change(name: string, value: string | boolean): void }) {
  return (
    <>
      {fields.map((field) => {
        const id = `field-${field.name}`;
        const text = typeof values[field.name] === 'string' ? (values[field.name] as string) : '';
        const label = (
          <span className="label-text">
            {field.name}
            {field.required ? <span className="required"> (required)</span> : <span className="muted"> (optional)</span>}
            {hint(field.schema) && <span className="muted"> · {hint(field.schema)}</span>}
          </span>
        );
        switch (field.edit.kind) {
          case 'boolean':
            return (
              <label key={field.name} className="check" htmlFor={id}>
                <input id={id} type="checkbox" checked={values[field.name] === true} onChange={(event) => change(field.name, event.target.checked)} />
                {label}
              </label>
            );
          case 'choice':
            return (
              <label key={field.name} htmlFor={id}>
                {label}
                <select id={id} value={text} onChange={(event) => change(field.name, event.target.value)} required={field.required}>
                  <option value="">{field.required ? 'choose…' : 'default'}</option>
                  {field.edit.options.map((option) => (
                    <option key={option}>{option}</option>
                  ))}
                </select>
              </label>
            );
          case 'json':
            return (
              <label key={field.name} htmlFor={id}>
                <span>
                  {label} <span className="muted">(JSON)</span>
                </span>
                <textarea id={id} rows={3} value={text} onChange={(event) => change(field.name, event.target.value)} spellCheck={false} />
              </label>
            );
          default:
            return (
              <label key={field.name} htmlFor={id}>
                {label}
                <input
                  id={id}
                  type={field.edit.kind === 'string' ? (field.schema.format === 'email' ? 'email' : 'text') : 'number'}
                  step={field.edit.kind === 'integer' ? 1 : 'any'}
                  min={field.schema.minimum}
                  max={field.schema.maximum}
                  value={text}
                  required={field.required}
                  onChange={(event) => change(field.name, event.target.value)}
                />
              </label>
            );
        }
      })}
    </>
  );
}
