#!/bin/sh
# Brings up one WireGuard interface per wg-quick-style file: the host's /etc/wireguard/NAME.conf
# (the blueprint's files) and /run/config/wireguard/NAME.conf (a metadata component), NAME
# being the interface. What `wg setconf` knows (PrivateKey, ListenPort, FwMark, and each
# [Peer]'s PublicKey, PresharedKey, AllowedIPs, Endpoint, PersistentKeepalive) goes to it; from
# wg-quick, Address (several, comma-separated) and MTU are applied here, and each peer's
# AllowedIPs gets a route through the interface (not a /0: wg-quick's policy routing for a
# default route is not done here). PrivateKeyFile = PATH (ours) reads the key from a file under
# /etc or /run/config instead of the config. DNS, Table, Pre/PostUp/Down and SaveConfig are
# ignored, with a message. Exits 1 if any interface failed or there was none.
status=0
found=0

# a key file path as this container sees it: the host's /etc is at /host/etc
visible() {
  case $1 in
    /run/config/*) echo "$1" ;;
    /etc/*) echo "/host$1" ;;
    /*) echo "$1" ;;
    *) echo "$2/$1" ;;
  esac
}

up() { # $1 = the config file as seen here, $2 = as the user names it
  name=${1##*/}; name=${name%.conf}
  clean=/tmp/$name.conf
  # the directives we act on come out on stdout; what wg setconf takes goes to $clean
  plan=$(awk -v out="$clean" '
    { line = $0; sub(/#.*/, "", line); gsub(/^[ \t]+|[ \t]+$/, "", line) }
    line == "" { next }
    line ~ /^\[/ { section = tolower(line); print line > out; next }
    {
      k = line; sub(/[ \t]*=.*/, "", k); v = line; sub(/^[^=]*=[ \t]*/, "", v); lk = tolower(k)
      if (section == "[interface]") {
        if (lk == "address") { n = split(v, a, /[ \t]*,[ \t]*/); for (i = 1; i <= n; i++) print "address " a[i]; next }
        if (lk == "mtu") { print "mtu " v; next }
        if (lk == "privatekeyfile") { print "keyfile " v; next }
        if (lk == "dns" || lk == "table" || lk == "saveconfig" || lk ~ /^(pre|post)(up|down)$/) { print "ignored " k; next }
      } else if (section == "[peer]" && lk == "allowedips") {
        n = split(v, a, /[ \t]*,[ \t]*/); for (i = 1; i <= n; i++) print "route " a[i]
      }
      print k " = " v > out
    }' "$1") || { echo "wireguard: $2: cannot read it" >&2; return 1; }
  echo "wireguard: $name from $2"
  ip link add "$name" type wireguard || { echo "wireguard: $name: cannot create the interface (is the wireguard module in the blueprint's kernel.modules?)" >&2; return 1; }
  if ! wg setconf "$name" "$clean"; then
    echo "wireguard: $2: wg setconf refused it (see above)" >&2
    rm -f "$clean"; ip link del "$name"; return 1
  fi
  rm -f "$clean"
  rc=0
  echo "$plan" | while read -r what arg; do
    case $what in
      keyfile) wg set "$name" private-key "$(visible "$arg" "${1%/*}")" || { echo "wireguard: $2: cannot read PrivateKeyFile $arg (it must be under /etc or /run/config)" >&2; exit 1; } ;;
      address) ip address add "$arg" dev "$name" || exit 1 ;;
      mtu) ip link set "$name" mtu "$arg" || exit 1 ;;
      ignored) echo "wireguard: $2: $arg is wg-quick's, ignored here" ;;
    esac
  done || rc=1
  ip link set "$name" up || rc=1
  echo "$plan" | while read -r what arg; do
    [ "$what" = route ] || continue
    case $arg in
      */0) echo "wireguard: $name: AllowedIPs $arg: no default route through the tunnel (add one with the ip component)" ;;
      *) ip route replace "$arg" dev "$name" || exit 1 ;;
    esac
  done || rc=1
  wg show "$name" | sed "s/^/wireguard: /"
  ip -o address show dev "$name" | sed 's/^/wireguard: addr: /; s/\\ */ /g'
  return $rc
}

for f in /host/etc/wireguard/*.conf /run/config/wireguard/*.conf; do
  [ -f "$f" ] || continue
  found=1
  up "$f" "${f#/host}" || status=1
done
if [ "$found" = 0 ]; then
  echo "wireguard: no /etc/wireguard/*.conf (blueprint's files) nor /run/config/wireguard/*.conf: no interface" >&2
  exit 1
fi
exit "$status"
