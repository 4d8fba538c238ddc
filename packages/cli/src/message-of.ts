/** The message of anything thrown. (@sluice/core has the same, but the commands that only talk HTTP do not load core.) */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
