import type { ListedJob } from '../api/types';
import { formatBytes } from '../format';

/** Characters of a payload a table cell shows. */
const PREVIEW_CHARS = 80;

/**
 * A listed job's payload on one line, cut short; lists leave out payloads too large to list
 * (payloadTruncated), and then the cell says how large it is and where to see it.
 */
export function PayloadCell({ job }: { job: ListedJob }) {
  if (job.payloadTruncated || job.payload === null) return <span className="muted">({formatBytes(job.payloadBytes)}, open the job to see it)</span>;
  // Lists carry payloads of at most 16 KiB of JSON (larger ones are null), so this text stays small.
  const text = JSON.stringify(job.payload);
  return <code className="payload-preview">{text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS)}…` : text}</code>;
}
