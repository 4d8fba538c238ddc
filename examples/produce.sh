#!/bin/sh
# Submits a job to the Sluice API and follows it until it finishes, with nothing but curl, sed and grep.
#
#   sh examples/produce.sh [TYPE [PAYLOAD]]      default: greet '{"name": "Ada"}'
#
# The API is at SLUICE_URL, else http://127.0.0.1:$PORT (PORT defaulting to 3000), as for the sluice
# command. Exits 0 once the job is completed, 1 if it was refused, died or was cancelled.
set -eu

url=${SLUICE_URL:-http://127.0.0.1:${PORT:-3000}}
type=${1:-greet}
payload=${2:-'{"name": "Ada"}'}

answer=$(curl -sS -X POST "$url/jobs" -H 'content-type: application/json' -d "{\"type\": \"$type\", \"payload\": $payload}")
# An accepted job's answer starts with its id; a refusal is {"error": {"code", "message"}}.
id=$(printf '%s\n' "$answer" | sed -n 's/^{"id":"\([^"]*\)".*/\1/p')
if [ -z "$id" ]; then
  echo "not accepted: $answer" >&2
  exit 1
fi
echo "job $id ($type) accepted"

last=
while :; do
  job=$(curl -sS "$url/jobs/$id")
  # The job's own status is the one followed by "attempts"; its history's events have "attempt".
  status=$(printf '%s\n' "$job" | sed -n 's/.*"status":"\([a-z]*\)","attempts":.*/\1/p')
  if [ "$status" != "$last" ]; then
    echo "$status"
    last=$status
  fi
  case $status in
    completed)
      printf '%s\n' "$job" | sed -n 's/.*"result":\(.*\),"progress":.*/result: \1/p'
      exit 0
      ;;
    dead | cancelled)
      printf '%s\n' "$job" | sed -n 's/.*"lastError":\(".*"\),"idempotencyKey":.*/last error: \1/p'
      exit 1
      ;;
    '')
      echo "unexpected answer: $job" >&2
      exit 1
      ;;
  esac
  sleep 1
done
