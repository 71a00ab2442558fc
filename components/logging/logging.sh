#!/bin/sh
# Entrypoint of the logging service: syslogd in the foreground writing /var/log/messages from
# /dev/log, klogd feeding it the kernel's messages, and a rotation loop.
#   osbuild-logging [-s KB] [-b N] [syslogd options...]
# -s KB: rotate /var/log/messages once it is larger (default 1024, 0: never); -b N: keep N
# rotated files, messages.0 the newest (default 4, 0: just empty the file). The other options
# go to busybox syslogd (-l N, -D, -t, -S, -R HOST:PORT ...).
# Debian's busybox is built without syslogd's own rotation (its -s and -b), so the rotation is
# here: checked every second, a file is renamed; syslogd reopens its file every second, so the
# next lines go to a new one and nothing is lost.
size=1024 keep=4 opts=
while [ $# -gt 0 ]; do
  case $1 in
    -s) size=$2; shift 2 ;;
    -b) keep=$2; shift 2 ;;
    *) opts="$opts $1"; shift ;;
  esac
done
case "$size$keep" in *[!0-9]*|'') echo "logging: -s and -b take numbers (got -s '$size' -b '$keep')" >&2; exit 2 ;; esac
log=/var/log/messages

rotate() {
  if [ "$keep" -eq 0 ]; then : >"$log"; return; fi
  i=$((keep - 1))
  while [ $i -gt 0 ]; do
    [ -e "$log.$((i - 1))" ] && mv -f "$log.$((i - 1))" "$log.$i"
    i=$((i - 1))
  done
  mv -f "$log" "$log.0"
}

mkdir -p /var/log
# a socket left by a previous run would make the new one fail to bind
rm -f /dev/log
# shellcheck disable=SC2086 # options are words
syslogd -n -O "$log" $opts &
sl=$!
# klogd logs through /dev/log: start it once syslogd has made the socket (what klogd read
# before would be lost: syslog(3) drops messages it cannot send)
while [ ! -S /dev/log ]; do
  kill -0 $sl 2>/dev/null || { wait $sl; echo "logging: syslogd exited before making /dev/log" >&2; exit 1; }
  sleep 0.1
done
# -n: foreground (a child of this script, stopped with it); no -c: the console keeps its log level
klogd -n &
kl=$!
rot=
if [ "$size" -gt 0 ]; then
  (while sleep 1; do
    [ -f "$log" ] && [ "$(wc -c <"$log")" -gt $((size * 1024)) ] && rotate
  done) &
  rot=$!
fi
echo "logging: syslogd writing $log (rotated past ${size} KB, $keep kept), klogd reading the kernel log"
trap 'kill $kl $sl $rot 2>/dev/null' TERM INT
wait $sl
rc=$?
kill $kl $rot 2>/dev/null
rm -f /dev/log
exit $rc
