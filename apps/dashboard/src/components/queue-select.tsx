/** A choice of one of `queues`, or all of them (the empty value). */
export function QueueSelect({ queues, value, onChange }: { queues: readonly string[]; value: string; onChange: (queue: string) => void }) {
  return (
    <label className="inline-field">
      Queue{' '}
      <select value={value} onChange={(event) => onChange(event.target.value)}>
        <option value="">all queues</option>
        {queues.map((queue) => (
          <option key={queue} value={queue}>
            {queue}
          </option>
        ))}
      </select>
    </label>
  );
}
