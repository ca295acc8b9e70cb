# shellcheck shell=bash
# Where each process of the topology listens, for the configuration renderers. Natively every
# process is on ATLAS_LOCAL_HOST with a port of its own (local/topology.env); in containers
# (ATLAS_RENDER_FOR=compose, see local/compose.yaml) each is a service named like the process,
# roles on port 8080 and gateways on 8443.

COMPOSE_ROLE_PORT=8080
COMPOSE_GATEWAY_PORT=8443
# The containers' network (fixed in local/compose.yaml): the gateways trust HAProxy within it.
COMPOSE_SUBNET=172.28.0.0/16

for_compose() { [ "${ATLAS_RENDER_FOR:-native}" = compose ]; }

# host:port of process NAME (auth-1, realtime-3, gateway-2, ...).
address_of() {
  local name="$1" role="${1%-*}" index="${1##*-}" var
  if for_compose; then
    case "$role" in
      gateway) echo "$name:$COMPOSE_GATEWAY_PORT" ;;
      *) echo "$name:$COMPOSE_ROLE_PORT" ;;
    esac
    return
  fi
  var="ATLAS_LOCAL_${role^^}_BASE_PORT"
  echo "$ATLAS_LOCAL_HOST:$((${!var} + index - 1))"
}

# What a gateway or the front door binds.
listen_address() {
  if for_compose; then
    case "$1" in
      gateway-*) echo "$COMPOSE_GATEWAY_PORT" ;;
      front) echo "*:8443" ;;
      stats) echo "*:8404" ;;
    esac
    return
  fi
  case "$1" in
    gateway-*) address_of "$1" ;;
    front) echo "$ATLAS_LOCAL_HOST:$ATLAS_LOCAL_FRONT_PORT" ;;
    stats) echo "$ATLAS_LOCAL_HOST:$ATLAS_LOCAL_HAPROXY_STATS_PORT" ;;
  esac
}

# Who may tell a gateway the client's address (HAProxy).
proxy_peers() {
  if for_compose; then echo "$COMPOSE_SUBNET"; else echo "$ATLAS_LOCAL_HOST"; fi
}
