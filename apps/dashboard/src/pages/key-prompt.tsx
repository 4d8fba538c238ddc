import { useState, type FormEvent } from 'react';
import { Notice } from '../components/notice';

/** Asks for an API key; the dashboard shows nothing else until the API accepts one. */
export function KeyPrompt({ problem, submit }: { problem: string | undefined; submit(key: string): void }) {
  const [key, setKey] = useState('');
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    if (key.trim()) submit(key.trim());
  };
  return (
    <main className="key-prompt">
      <form className="card form" onSubmit={onSubmit} aria-labelledby="key-title">
        <h2 id="key-title">API key needed</h2>
        <p>This Sluice API requires a key (one of its API_KEYS). It is kept in this tab only and sent as a Bearer token.</p>
        {problem && <Notice kind="error">{problem}</Notice>}
        <label>
          API key
          <input type="password" autoComplete="off" value={key} onChange={(event) => setKey(event.target.value)} autoFocus required minLength={1} />
        </label>
        <div>
          <button type="submit" className="primary">
            Continue
          </button>
        </div>
      </form>
    </main>
  );
}
