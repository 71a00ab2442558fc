#!/bin/sh
# ctr-run [FILE]: pull one image into containerd and run it in the foreground, its output on
# this service's stdout (the console). FILE is a path on the host (default
# /etc/containerd/run.conf, put there by the blueprint's files section), seen here under the
# read-only bind /host/etc; it is a shell fragment setting:
#   IMAGE=registry:5000/repo/name:tag   (required)
#   NAME=app                            (container name; default: the file's base name)
#   PLAIN_HTTP=1                        (the registry speaks http, not https)
#   ARGS='/bin/sh -c "echo hi"'         (the command; default: the image's)
#   NET_HOST=1                          (the host's network; default 1, 0 for none)
conf=${1:-/etc/containerd/run.conf}
say() { echo "ctr-run: $*"; }
if [ ! -f "/host$conf" ]; then
  say "no $conf on the host: put one there with the blueprint's files section (see the containerd README)" >&2
  exit 1
fi
IMAGE= NAME= PLAIN_HTTP= ARGS= NET_HOST=1
. "/host$conf"
[ -n "$IMAGE" ] || { say "$conf sets no IMAGE" >&2; exit 1; }
[ -n "$NAME" ] || { NAME=${conf##*/}; NAME=${NAME%.conf}; }
sock=/run/containerd/containerd.sock
ctr() { /usr/bin/ctr --address "$sock" --namespace default "$@"; }
# containerd is another service, started at the same time: wait for it to answer
i=0
until ctr version >/dev/null 2>&1; do
  i=$((i+1))
  [ $i -ge 120 ] && { say "containerd does not answer on $sock" >&2; exit 1; }
  sleep 1
done
pull=
[ "$PLAIN_HTTP" = 1 ] && pull=--plain-http
say "pulling $IMAGE"
# the network may still be coming up (dhcpcd starts with us): retry for a minute
i=0
until ctr image pull $pull "$IMAGE" >/dev/null; do
  i=$((i+1))
  [ $i -ge 12 ] && { say "pull of $IMAGE failed" >&2; exit 1; }
  sleep 5
done
# a task left by a previous run of this service (killed, not removed) would block the name
ctr task kill -s KILL "$NAME" >/dev/null 2>&1 && sleep 1
ctr task rm -f "$NAME" >/dev/null 2>&1
ctr container rm "$NAME" >/dev/null 2>&1
run=
[ "$NET_HOST" = 1 ] && run=--net-host
say "running $IMAGE as $NAME"
eval "set -- $ARGS"
exec /usr/bin/ctr --address "$sock" --namespace default run --rm $run "$IMAGE" "$NAME" "$@"
