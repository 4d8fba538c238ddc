#!/bin/sh
# Makes the nodes in REDIS_CLUSTER_NODES (host:port, comma-separated) one Redis Cluster of masters with
# a replica each, unless they already are one, then waits until every node says the cluster is ok.
# docker-compose.yml's redis-cluster-init runs it on every `up`; test/compose.test.ts runs it on loopback.
set -eu

nodes=$(echo "$REDIS_CLUSTER_NODES" | tr ',' ' ')

ask() {
  node=$1
  shift
  redis-cli -h "${node%:*}" -p "${node##*:}" "$@"
}

# One field of a node's CLUSTER INFO (redis-cli exits 0 on error replies: an empty answer is a failure).
info() {
  ask "$1" cluster info | tr -d '\r' | sed -n "s/^$2://p"
}

seed=${nodes%% *}
if [ "$(info "$seed" cluster_known_nodes)" = 1 ]; then
  # Refuses, changing nothing, if any node already knows another or holds keys.
  # shellcheck disable=SC2086 # one argument per node
  redis-cli --cluster create $nodes --cluster-replicas 1 --cluster-yes
else
  # The nodes know each other by IP address, and containers created again (after `docker compose down`)
  # may all get new ones: nodes that reach none of their peers at the old addresses never find them.
  # Meeting a node it knows at its current address updates the address. A node that knows no other (its
  # volume was removed) is left out: it joins by hand (redis-cli --cluster add-node), as what it should be.
  members=""
  for node in $nodes; do
    if [ "$(info "$node" cluster_known_nodes)" != 1 ]; then members="$members $node"; fi
  done
  for to in $members; do
    # CLUSTER MEET takes an IP address only, and the bus port (0: the client port + 10000).
    ip=$(getent hosts "${to%:*}" | awk '{ print $1; exit }')
    port=${to##*:}
    bus=$(ask "$to" config get cluster-port | tail -n 1)
    if [ "$bus" = 0 ]; then bus=$((port + 10000)); fi
    for from in $members; do
      if [ "$from" = "$to" ]; then continue; fi
      reply=$(ask "$from" cluster meet "$ip" "$port" "$bus")
      if [ "$reply" != OK ]; then
        echo "create-cluster: $from could not meet $to at $ip:$port: $reply" >&2
        exit 1
      fi
    done
  done
fi

for node in $nodes; do
  waited=0
  until [ "$(info "$node" cluster_state)" = ok ]; do
    waited=$((waited + 1))
    if [ "$waited" -gt 60 ]; then
      echo "create-cluster: $node does not say the cluster is ok after 60 s:" >&2
      ask "$node" cluster info >&2
      exit 1
    fi
    sleep 1
  done
done
echo "create-cluster: every node says the cluster is ok"
