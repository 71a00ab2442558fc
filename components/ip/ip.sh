#!/bin/sh
# Applies the static network configuration: the host's /etc/ip/*.conf in name order, then each
# argument as one more line. A line is either the arguments of one busybox `ip` command
# (`addr add 192.0.2.10/24 dev eth1`, `link set eth1 up`, `route add default via 192.0.2.1`,
# `link add dummy0 type dummy`) or a resolv.conf line (`nameserver 192.0.2.53`, `search
# example.org`, `domain ...`, `options ...`), which together replace the host's
# /etc/resolv.conf. Every line is tried; the exit code is 1 if any failed.
status=0
dns=
n=0

apply() { # $1 = where (file:line or argument N), $2 = the line
  line=$(echo "$2" | sed 's/#.*//; s/^[[:space:]]*//; s/[[:space:]]*$//')
  [ -n "$line" ] || return 0
  n=$((n+1))
  case $line in
    nameserver\ *|search\ *|domain\ *|options\ *)
      dns="$dns$line
"
      return 0 ;;
  esac
  echo "ip: ip $line"
  # word splitting is the point here: a line is an argument list
  # shellcheck disable=SC2086
  if ! ip $line; then
    echo "ip: $1: \`ip $line\` failed" >&2
    status=1
  fi
}

for f in /host/etc/ip/*.conf; do
  [ -f "$f" ] || continue
  i=0
  while IFS= read -r l || [ -n "$l" ]; do
    i=$((i+1))
    apply "${f#/host}:$i" "$l"
  done <"$f"
done
a=0
for l in "$@"; do
  a=$((a+1))
  apply "argument $a" "$l"
done

if [ "$n" = 0 ]; then
  echo "ip: nothing to do: put lines in /etc/ip/*.conf with the blueprint's files, or give them as the command" >&2
  exit 1
fi
if [ -n "$dns" ]; then
  # in place: the file is bind-mounted from the host, a rename would not reach it
  printf '%s' "$dns" >/etc/resolv.conf || status=1
  sed 's/^/ip: resolv.conf: /' /etc/resolv.conf
fi
# the result, for the console
ip -o addr show | sed 's/^/ip: addr: /; s/\\ */ /g'
ip route show | sed 's/^/ip: route: /'
exit "$status"
