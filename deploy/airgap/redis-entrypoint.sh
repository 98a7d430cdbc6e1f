#!/bin/sh
# The official Redis image's entrypoint, on Debian's redis-server (deploy/airgap-base.sh).
set -e

# `-option ...` or `something.conf ...`: arguments for redis-server.
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
  set -- redis-server "$@"
fi

# Started as root: own the data dir and drop to the redis user, as the official image does with gosu.
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
  find . \! -user redis -exec chown redis '{}' +
  exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

um="$(umask)"
if [ "$um" = 0022 ] || [ "$um" = 022 ]; then
  umask 0077
fi

# The official image compiles protected mode off: a container's port is private unless published. Debian's
# binary defaults to on, which would refuse every other container, so it is turned off here the same way:
# as a default that a config file or a later --protected-mode argument still overrides.
if [ "$1" = redis-server ]; then
  shift
  if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
    conf="$1"
    shift
    if grep -qiE '^[[:space:]]*protected-mode[[:space:]]' "$conf" 2>/dev/null; then
      set -- redis-server "$conf" "$@"
    else
      set -- redis-server "$conf" --protected-mode no "$@"
    fi
  else
    set -- redis-server --protected-mode no "$@"
  fi
fi

exec "$@"
