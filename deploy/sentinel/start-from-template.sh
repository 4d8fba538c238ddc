#!/bin/sh
# Usage: start-from-template.sh TEMPLATE [redis-server arguments…]
# Starts redis-server (a sentinel, with --sentinel) on a copy of TEMPLATE in the working directory (the
# image's /data, the service's volume), made on the first start only. A sentinel rewrites its file as it
# learns the master, replicas and other sentinels, and after a failover it records each node's new role
# in the node's own file (CONFIG REWRITE): a restart must find what they learned, not the template again.
# A changed template therefore applies to new volumes only (`docker compose --profile sentinel down -v`).
set -eu

template=$1
shift
config="$PWD/$(basename "$template")"
if [ ! -f "$config" ]; then cp "$template" "$config"; fi
# The image's entrypoint hands /data to the redis user and drops to it, as it does for its default command.
exec docker-entrypoint.sh redis-server "$config" "$@"
