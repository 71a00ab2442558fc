#!/bin/sh
# The A/B update agent (a service on a `root: {slots: ab}` system). Every interval it reads the
# manifest of OSBUILD_UPDATE_REF (an `osbuild build -f update --push` artifact). When the
# artifact's org.osbuild.version is newer than the running system's, it
#   1. deletes every UKI on the ESP but the booted one (the inactive slot is about to change, so
#      its entry must go first: a power cut from here on boots the running system),
#   2. streams the root layer into the inactive slot, checks its sha256 as it arrives and again
#      as read back from the disk,
#   3. writes the UKI under a temporary name, checks it, renames it osbuild-<version>+<tries>.efi
#      (systemd-boot boots it next, and counts its tries down), syncs, and reboots.
# The init marks the new version good once all its services start, or reboots; a version whose
# tries are spent (osbuild-<version>+0-<done>.efi) is never installed again, so the device stays
# on the version it fell back to. Every failure prints `update: ...`, leaves the running entry
# as it was, and is retried next interval.
#
# Everything about the disk comes from /run/osbuild/slots (written by the init):
#   version active active_name inactive inactive_name esp entry trial [tries]
# Environment:
#   OSBUILD_UPDATE_REF       HOST[:PORT]/REPOSITORY[:TAG|@sha256:...]   (required)
#   OSBUILD_UPDATE_INTERVAL  seconds between checks (default 300)
#   OSBUILD_UPDATE_INSECURE  1: plain HTTP to any registry (default: only to localhost, 127.*
#                            and 10.0.2.2, QEMU's host; HTTPS with Debian's CAs otherwise)
#   OSBUILD_UPDATE_AUTH      USER:PASSWORD for registries that want them (default: anonymous)
#   OSBUILD_UPDATE_ONCE      1: one check, then exit (0: nothing to do or installed, 1: failed)
PATH=/bin:/usr/bin
export PATH
SLOTS=/run/osbuild/slots
T=${TMPDIR:-/tmp}/update
REF=${OSBUILD_UPDATE_REF:-}
INTERVAL=${OSBUILD_UPDATE_INTERVAL:-300}
MANIFEST_TYPES='application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json'

say() { echo "update: $*"; }
# a state that lasts (nothing to do, waiting) is said once, not every interval
said=
say_once() { [ "$said" = "$*" ] || { said=$*; say "$*"; }; }

# strverscmp_improved, systemd's version order (the order systemd-boot sorts entries in):
# prints <, = or >
vercmp() {
  awk -v a="$1" -v b="$2" '
    function valid(c) { return c ~ /[0-9A-Za-z~^.-]/ }
    function cmp(x, y) { return x < y ? -1 : x > y ? 1 : 0 }
    function order(a, b,    ca, cb, r, i, j, na, nb) {
      if (a == "" || b == "") return cmp(a, b)
      for (;;) {
        while (a != "" && !valid(substr(a, 1, 1))) a = substr(a, 2)
        while (b != "" && !valid(substr(b, 1, 1))) b = substr(b, 2)
        ca = substr(a, 1, 1); cb = substr(b, 1, 1)
        if (ca == "~" || cb == "~") {
          if ((r = cmp(ca != "~", cb != "~")) != 0) return r
          a = substr(a, 2); b = substr(b, 2); ca = substr(a, 1, 1); cb = substr(b, 1, 1)
        }
        if (a == "" || b == "") return cmp(a != "", b != "")
        # separators: the string that has one where the other has none is older
        if (ca == "-" || cb == "-") {
          if ((r = cmp(ca != "-", cb != "-")) != 0) return r
          a = substr(a, 2); b = substr(b, 2); ca = substr(a, 1, 1); cb = substr(b, 1, 1)
        }
        if (ca == "^" || cb == "^") {
          if ((r = cmp(ca != "^", cb != "^")) != 0) return r
          a = substr(a, 2); b = substr(b, 2); ca = substr(a, 1, 1); cb = substr(b, 1, 1)
        }
        if (ca == "." || cb == ".") {
          if ((r = cmp(ca != ".", cb != ".")) != 0) return r
          a = substr(a, 2); b = substr(b, 2); ca = substr(a, 1, 1); cb = substr(b, 1, 1)
        }
        if (ca ~ /[0-9]/ || cb ~ /[0-9]/) {
          # a number is newer than no number; numbers compare by value, whatever their length
          i = match(a, /^[0-9]+/) ? RLENGTH : 0
          j = match(b, /^[0-9]+/) ? RLENGTH : 0
          if ((r = cmp(i > 0, j > 0)) != 0) return r
          na = substr(a, 1, i); nb = substr(b, 1, j)
          a = substr(a, i + 1); b = substr(b, j + 1)
          sub(/^0+/, "", na); sub(/^0+/, "", nb)
          if ((r = cmp(length(na), length(nb))) != 0) return r
          if ((r = cmp(na, nb)) != 0) return r
        } else {
          # letters: compared as strings on their common length, then the longer is newer
          i = match(a, /^[A-Za-z]+/) ? RLENGTH : 0
          j = match(b, /^[A-Za-z]+/) ? RLENGTH : 0
          if ((r = cmp(substr(a, 1, i < j ? i : j), substr(b, 1, i < j ? i : j))) != 0) return r
          if ((r = cmp(i, j)) != 0) return r
          a = substr(a, i + 1); b = substr(b, j + 1)
        }
      }
    }
    BEGIN { r = order(a, b); print (r < 0 ? "<" : r > 0 ? ">" : "=") }'
}

# the version names the files on the ESP: the contract's characters only (nothing like ../)
valid_version() {
  case $1 in '' | *[!0-9A-Za-z._~^-]*) return 1 ;; esac
  [ ${#1} -le 64 ]
}

read_slots() {
  version= active= active_name= inactive= inactive_name= esp= entry= trial= tries=
  [ -r $SLOTS ] || { say "$SLOTS: not there: this system has no A/B slots (root: {type: squashfs, slots: ab})"; return 1; }
  while IFS='=' read -r k v; do
    case $k in
      version) version=$v ;; active) active=$v ;; active_name) active_name=$v ;;
      inactive) inactive=$v ;; inactive_name) inactive_name=$v ;; esp) esp=$v ;;
      entry) entry=$v ;; trial) trial=$v ;; tries) tries=$v ;;
    esac
  done <$SLOTS
  for k in version inactive inactive_name esp entry; do
    eval "[ -n \"\$$k\" ]" || { say "$SLOTS has no $k=: the init wrote no complete slots file"; return 1; }
  done
  case $tries in '' | *[!0-9]*) tries=2 ;; esac
  [ -d "$esp/EFI/Linux" ] || { say "$esp/EFI/Linux: not there: the ESP is not mounted"; return 1; }
}

# REF -> base URL, repository and tag (or digest)
parse_ref() {
  case $REF in
    */*) ;;
    *) say "OSBUILD_UPDATE_REF=$REF: expected HOST[:PORT]/REPOSITORY[:TAG], e.g. 10.0.2.2:5000/fleet/dev:stable"; return 1 ;;
  esac
  host=${REF%%/*} rest=${REF#*/}
  case $rest in
    *@*) repo=${rest%%@*} tag=${rest#*@} ;;
    *) last=${rest##*/}
      case $last in *:*) repo=${rest%:*} tag=${last##*:} ;; *) repo=$rest tag=latest ;; esac ;;
  esac
  scheme=https
  case $host in localhost | localhost:* | 127.* | 10.0.2.2 | 10.0.2.2:*) scheme=http ;; esac
  [ "${OSBUILD_UPDATE_INSECURE:-}" = 1 ] && scheme=http
  base=$scheme://$host/v2/$repo
}

# Debian's CA certificates as the one bundle curl reads (made once, in the tmpfs)
ca_bundle() {
  [ -s $T/ca.crt ] && return 0
  cat /usr/share/ca-certificates/mozilla/*.crt >$T/ca.crt 2>/dev/null
  [ -s $T/ca.crt ] || { say "no CA certificates in /usr/share/ca-certificates/mozilla: cannot check $host's certificate"; return 1; }
}

# curl with the registry's credentials: a bearer token (asked for on a 401, anonymous unless
# OSBUILD_UPDATE_AUTH names a user) or Basic auth. `fetch URL OUT ACCEPT`; sets code, fails with
# `why` set when nothing came back.
auth=
curl_auth() {
  if [ -n "$auth" ]; then curl -H "Authorization: $auth" "$@"; else curl "$@"; fi
}
basic() { echo "Basic $(printf %s "$OSBUILD_UPDATE_AUTH" | base64 | tr -d '\n')"; }
challenge_param() { echo "$challenge" | sed -n "s/.*[ ,]$1=\"\([^\"]*\)\".*/\1/p"; }
fetch() {
  for attempt in 1 2; do
    rm -f $T/headers $T/err
    code=$(curl_auth -sS -L --connect-timeout 15 -m 120 $CURL_CA -H "Accept: $3" -D $T/headers -o "$2" -w '%{http_code}' "$1" 2>$T/err) ||
      { why=$(sed 's/^curl: ([0-9]*) //' $T/err | head -1); return 1; }
    [ "$code" = 401 ] && [ $attempt = 1 ] || return 0
    challenge=$(tr -d '\r' <$T/headers | grep -i '^www-authenticate:' | tail -1)
    case $challenge in
      *[Bb]earer*)
        realm=$(challenge_param realm) service=$(challenge_param service) scope=$(challenge_param scope)
        [ -n "$scope" ] || scope="repository:$repo:pull"
        if [ -n "${OSBUILD_UPDATE_AUTH:-}" ]; then
          curl -sS -f --connect-timeout 15 -m 60 $CURL_CA -H "Authorization: $(basic)" --get --data-urlencode "service=$service" \
            --data-urlencode "scope=$scope" -o $T/token "$realm" 2>$T/err
        else
          curl -sS -f --connect-timeout 15 -m 60 $CURL_CA --get --data-urlencode "service=$service" \
            --data-urlencode "scope=$scope" -o $T/token "$realm" 2>$T/err
        fi || { why="token from $realm: $(sed 's/^curl: ([0-9]*) //' $T/err | head -1)"; return 1; }
        token=$(jq -r '.token // .access_token // empty' $T/token 2>/dev/null)
        [ -n "$token" ] || { why="no token in the answer of $realm"; return 1; }
        auth="Bearer $token" ;;
      *[Bb]asic*)
        [ -n "${OSBUILD_UPDATE_AUTH:-}" ] || return 0
        auth=$(basic) ;;
      *) return 0 ;;
    esac
  done
}

# a blob to a file (or fifo), with the credentials fetch found; fails with `why` set
download() {
  curl_auth -sS -f -L --connect-timeout 15 --speed-limit 1 --speed-time 60 $CURL_CA -o "$2" "$1" 2>$T/err ||
    { why=$(sed 's/^curl: ([0-9]*) //' $T/err | head -1); return 1; }
}

# the sha256 of a stream, as a digest
digest_of() { sha256sum | sed 's/^\([0-9a-f]*\).*/sha256:\1/'; }

# the layer whose title ends with $1: "DIGEST SIZE"
layer() {
  jq -r --arg suffix "$1" '[.layers[]? | select((.annotations["org.opencontainers.image.title"] // "") | endswith($suffix))]
    | if length == 1 then "\(.[0].digest) \(.[0].size)" else empty end' $T/manifest
}

# the size of the slot's device (or of a plain file standing in for one)
size_of() {
  if [ -b "$1" ]; then blockdev --getsize64 "$1"; else stat -c %s "$1"; fi
}

check() {
  read_slots || return 1
  parse_ref || return 1
  CURL_CA=
  if [ $scheme = https ]; then ca_bundle || return 1; CURL_CA="--cacert $T/ca.crt"; fi
  fetch "$base/manifests/$tag" $T/manifest "$MANIFEST_TYPES" || { say "$REF: cannot reach the registry: $why"; return 1; }
  case $code in
    200) ;;
    404) say "$REF: no such artifact (HTTP 404): push one with osbuild build -f update --push $REF"; return 1 ;;
    401 | 403) say "$REF: the registry refused (HTTP $code): set OSBUILD_UPDATE_AUTH=USER:PASSWORD"; return 1 ;;
    *) say "$REF: the registry answered HTTP $code"; return 1 ;;
  esac
  if [ "$(jq -r '.mediaType // empty' $T/manifest 2>/dev/null)" = application/vnd.oci.image.index.v1+json ]; then
    say "$REF is an index: push each arch's update to a tag of its own"; return 1
  fi
  new=$(jq -r '.annotations["org.osbuild.version"] // empty' $T/manifest 2>/dev/null) || { say "$REF: its manifest is not JSON"; return 1; }
  [ -n "$new" ] || { say "$REF has no org.osbuild.version annotation: is it an osbuild build -f update --push?"; return 1; }
  valid_version "$new" || { say "$REF: version \"$new\" is not a version (1-64 of 0-9 A-Z a-z . _ ~ ^ -)"; return 1; }

  case $(vercmp "$new" "$version") in
    '>') ;;
    *) say_once "$REF version $new: running $version, nothing to do"; return 0 ;;
  esac
  L=$esp/EFI/Linux
  for f in "$L/osbuild-$new+0-"*.efi "$L/osbuild-$new+0.efi"; do
    [ -e "$f" ] && { say_once "$REF version $new failed its trial boots here: not installed again"; return 0; }
  done
  # the booted entry: the init renames a trial entry to osbuild-<version>.efi when it is good
  keep=${entry##*/}
  if [ -n "$trial" ]; then
    [ -e "$L/osbuild-$version.efi" ] || { say_once "$REF version $new available: waiting for version $version to pass its trial"; return 0; }
    keep=osbuild-$version.efi
  fi

  root=$(layer -update-root.img) uki=$(layer -update.efi)
  [ -n "$root" ] && [ -n "$uki" ] || { say "$REF has no single *-update-root.img and *-update.efi: push the outputs of osbuild build -f update"; return 1; }
  root_digest=${root% *} root_size=${root#* } uki_digest=${uki% *} uki_size=${uki#* }
  for d in "$root_digest" "$uki_digest"; do
    case $d in sha256:????????????????????????????????????????????????????????????????) ;; *) say "$REF: layer digest $d is not sha256"; return 1 ;; esac
  done
  slot_size=$(size_of "$inactive") || { say "$inactive_name ($inactive): cannot read its size"; return 1; }
  [ "$root_size" -le "$slot_size" ] || { say "$REF: its root is $root_size bytes, $inactive_name holds $slot_size: build it with a larger slotSize"; return 1; }

  say "$REF version $new available (running $version)"
  # the inactive slot's entry goes before the slot changes; what a failed try left too
  for f in "$L"/osbuild-*.efi "$L"/.osbuild-*.part; do
    [ -e "$f" ] && [ "${f##*/}" != "$keep" ] && rm -f "$f"
  done
  sync
  say "writing $inactive_name ($root_size bytes)"
  rm -f $T/dl $T/hash $T/got $T/dd
  mkfifo $T/dl $T/hash
  # curl -> fifo -> tee: one copy to the hash, head's first root_size bytes to the slot (a
  # registry sending more cannot write past them); conv=notrunc keeps a plain file standing in
  # for the device at its size, fsync puts the bytes on the disk before they are read back.
  # The readers start first and wait in open(); fd 3 then holds the fifo open, so they see its
  # end even when curl fails before it opens it.
  digest_of <$T/hash >$T/got &
  tee $T/hash <$T/dl | head -c "$root_size" | dd of="$inactive" bs=64k conv=notrunc,fsync 2>$T/dd &
  writer=$!
  exec 3<>$T/dl
  download "$base/blobs/$root_digest" $T/dl; got_it=$?
  exec 3>&-
  wait $writer; wrote=$?
  wait
  [ $got_it = 0 ] || { say "$REF: downloading the root failed: $why"; return 1; }
  [ $wrote = 0 ] || { say "$inactive_name ($inactive): writing failed: $(tail -1 $T/dd)"; return 1; }
  got=$(cat $T/got)
  [ "$got" = "$root_digest" ] || { say "$REF: the root downloaded is $got, not $root_digest: the registry sent damaged bytes"; return 1; }
  # what the disk holds now, not what the page cache remembers
  [ -b "$inactive" ] && blockdev --flushbufs "$inactive"
  got=$(head -c "$root_size" "$inactive" | digest_of)
  [ "$got" = "$root_digest" ] || { say "$inactive_name ($inactive) reads back $got, not $root_digest: the disk did not keep what was written"; return 1; }

  part=$L/.osbuild-$new.part
  if ! download "$base/blobs/$uki_digest" "$part"; then
    rm -f "$part"; say "$REF: downloading the UKI to the ESP failed: $why"; return 1
  fi
  got=$(digest_of <"$part")
  [ "$got" = "$uki_digest" ] || { rm -f "$part"; say "$REF: the UKI downloaded is $got, not $uki_digest: the registry sent damaged bytes"; return 1; }
  # the rename is the moment the new version becomes bootable: systemd-boot tries it next
  mv "$part" "$L/osbuild-$new+$tries.efi" && sync || { rm -f "$part"; say "$esp: cannot rename the UKI to osbuild-$new+$tries.efi"; return 1; }
  say "version $new installed in $inactive_name: reboot"
  installed=1
  reboot || { say "reboot failed: the new version boots at the next restart"; return 1; }
}

main() {
  [ -n "$REF" ] || { say "OSBUILD_UPDATE_REF is not set: nothing to watch (e.g. OSBUILD_UPDATE_REF=10.0.2.2:5000/fleet/dev:stable)"; exit 1; }
  case $INTERVAL in '' | *[!0-9]* | 0) say "OSBUILD_UPDATE_INTERVAL=$INTERVAL is not a number of seconds: using 300"; INTERVAL=300 ;; esac
  mkdir -p $T
  installed=
  while :; do
    check; rc=$?
    [ "${OSBUILD_UPDATE_ONCE:-}" = 1 ] && exit $rc
    # installed: the init is stopping every service to reboot; checking again would rewrite it
    while [ -n "$installed" ]; do sleep 3600; done
    sleep "$INTERVAL"
  done
}

main
