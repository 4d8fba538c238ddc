-- Finds jobs by what their payload contains (GET /jobs?payload=, payload @> $1): a GIN index of
-- jsonb_path_ops, which serves containment only at about a third of jsonb_ops' size. Built on every
-- partition of jobs; a day partition attached later gets its own from the parent.
CREATE INDEX "jobs_payload_idx" ON "jobs" USING gin ("payload" jsonb_path_ops);