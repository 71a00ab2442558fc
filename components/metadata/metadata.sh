#!/bin/sh
# metadata: find this machine's user-data, ssh keys and hostname, and write them under
# /run/config with LinuxKit's metadata semantics:
#   /run/config/userdata               the user-data, raw
#   /run/config/<tree>                 user-data that is a JSON config tree ({"name": {"content":
#                                      "...", "perm": "0600"} | {"entries": {...}}}) as files
#   /run/config/ssh/authorized_keys    the provider's ssh public keys (0600)
#   /run/config/hostname               the hostname, also set with sethostname(2)
#   /run/config/provider               the provider the data came from
# The providers are tried in the order given as arguments (default: all, local ones first) and
# the first that answers wins. Every probe is bounded by a short timeout: a machine with no
# provider at all goes on booting after a few seconds.
#
# Environment (for running it outside its container): METADATA_OUT (default /run/config),
# METADATA_CMDLINE (default /proc/cmdline), METADATA_TIMEOUT (seconds per request, default 3),
# METADATA_SET_HOSTNAME=0 to leave the running hostname alone.

OUT=${METADATA_OUT:-/run/config}
CMDLINE=${METADATA_CMDLINE:-/proc/cmdline}
TMO=${METADATA_TIMEOUT:-3}
ALL="nocloud configdrive fw_cfg ec2 gcp azure openstack"
FW_CFG=/sys/firmware/qemu_fw_cfg/by_name/opt/org.osbuild/userdata/raw

say() { echo "metadata: $*"; }

# The link-local address every cloud serves its metadata on; the kernel command line may point
# elsewhere (osbuild.metadata.url=http://10.0.2.2:8000: a server on the host, under QEMU).
BASE=http://169.254.169.254
for w in $(cat "$CMDLINE" 2>/dev/null); do
  case $w in osbuild.metadata.url=*) BASE=${w#osbuild.metadata.url=} ;; esac
done
BASE=${BASE%/}
case $BASE in
  http://*) ;;
  *) say "osbuild.metadata.url=$BASE: only http:// URLs are understood; using http://169.254.169.254"; BASE=http://169.254.169.254 ;;
esac
HOSTPORT=${BASE#http://}; HOSTPORT=${HOSTPORT%%/*}
case $HOSTPORT in *:*) HOST=${HOSTPORT%:*}; PORT=${HOSTPORT##*:} ;; *) HOST=$HOSTPORT; PORT=80 ;; esac

W=$(mktemp -d /tmp/metadata.XXXXXX) || { say "cannot make a temporary directory in /tmp"; exit 1; }
MNT=$W/mnt
trap 'umount "$MNT" 2>/dev/null; rm -rf "$W"' EXIT
mkdir -p "$MNT"

# ---------------------------------------------------------------- HTTP
# get URL [HEADER]: the body on stdout; fails on an error status, a refused or a slow connection
get() {
  if [ -n "$2" ]; then timeout "$TMO" wget -q -O - --header "$2" "$1" 2>/dev/null
  else timeout "$TMO" wget -q -O - "$1" 2>/dev/null; fi
}

# raw METHOD PATH [HEADER]: a raw HTTP/1.0 request through nc (busybox wget cannot PUT); the
# response, headers included, with CRs removed
raw() {
  {
    printf '%s %s HTTP/1.0\r\nHost: %s\r\nContent-Length: 0\r\n' "$1" "$2" "$HOSTPORT"
    [ -n "$3" ] && printf '%s\r\n' "$3"
    printf '\r\n'
  } | timeout "$TMO" nc -w "$TMO" "$HOST" "$PORT" 2>/dev/null | tr -d '\r'
}

# Is anything listening at the metadata address? Asked once: when nothing answers, every HTTP
# provider is skipped at once instead of each waiting for its own timeout.
REACH=
reachable() {
  if [ -z "$REACH" ]; then
    if raw GET / | head -1 | grep -q '^HTTP/'; then REACH=yes; else REACH=no; say "nothing answers at $BASE"; fi
  fi
  [ "$REACH" = yes ]
}

# ---------------------------------------------------------------- what a provider found
# into $W: hostname, keys (one per line), userdata, metadata (the provider's own document)
addkeys() { grep -E '^(ssh-|ecdsa-|sk-)' >>"$W/keys" || true; }

# The few YAML shapes NoCloud meta-data and #cloud-config user-data use, read with awk: `KEY:
# value`, `KEY:` followed by `- item` lines or by `name: value` lines.
yaml_values() { # KEY < file
  awk -v key="$1" '
    function unq(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); if (s ~ /^".*"$/ || s ~ /^\x27.*\x27$/) s = substr(s, 2, length(s) - 2); return s }
    /^[^ \t#-]/ { inside = 0 }
    inside && /^[ \t]*-[ \t]*/ { v = $0; sub(/^[ \t]*-[ \t]*/, "", v); print unq(v); next }
    inside && /^[ \t]+[^ \t#][^:]*:[ \t]/ { v = $0; sub(/^[ \t]+[^:]*:[ \t]*/, "", v); print unq(v); next }
    index($0, key ":") == 1 { v = substr($0, length(key) + 2); if (unq(v) != "") print unq(v); else inside = 1 }
  '
}

# meta-data of a NoCloud seed: YAML (JSON is YAML too, read with jq when it parses)
nocloud_meta() { # file
  if jq -e 'type == "object"' "$1" >/dev/null 2>&1; then
    jq -r '."local-hostname" // .hostname // empty' "$1" | head -1 >"$W/hostname"
    jq -r '."public-keys" // empty | if type == "array" then .[] elif type == "object" then .[] else . end | strings' "$1" | addkeys
  else
    { yaml_values local-hostname <"$1"; yaml_values hostname <"$1"; } | head -1 >"$W/hostname"
    yaml_values public-keys <"$1" | addkeys
  fi
}

# OpenStack's meta_data.json (metadata service and config drive alike)
openstack_meta() { # file
  jq -r '.hostname // .name // empty' "$1" | head -1 >"$W/hostname"
  jq -r '.public_keys // {} | .[] | strings' "$1" | addkeys
}

# ---------------------------------------------------------------- providers
# each returns 0 when it is the one (even with no user-data), non-zero to try the next

# a filesystem labelled LABEL (any of the given spellings), mounted read-only on $MNT
mount_label() {
  for l in "$@"; do
    dev=$(findfs "LABEL=$l" 2>/dev/null) || continue
    if mount -r "$dev" "$MNT" 2>"$W/mount.err"; then say "$dev ($l) mounted"; return 0; fi
    say "$dev ($l): cannot mount: $(cat "$W/mount.err") (the kernel needs isofs or vfat: kernel.modules)"
  done
  return 1
}

p_nocloud() {
  mount_label cidata CIDATA || return 1
  [ -f "$MNT/user-data" ] && cp "$MNT/user-data" "$W/userdata"
  if [ -f "$MNT/meta-data" ]; then cp "$MNT/meta-data" "$W/metadata"; nocloud_meta "$MNT/meta-data"; fi
  # #cloud-config user-data may carry keys too
  [ -f "$W/userdata" ] && head -1 "$W/userdata" | grep -q '^#cloud-config' && yaml_values ssh_authorized_keys <"$W/userdata" | addkeys
  umount "$MNT"
  return 0
}

p_configdrive() {
  mount_label config-2 CONFIG-2 || return 1
  d=$MNT/openstack/latest
  [ -f "$d/user_data" ] && cp "$d/user_data" "$W/userdata"
  if [ -f "$d/meta_data.json" ]; then cp "$d/meta_data.json" "$W/metadata"; openstack_meta "$d/meta_data.json"; fi
  umount "$MNT"
  return 0
}

p_fw_cfg() {
  if [ ! -d /sys/firmware/qemu_fw_cfg ]; then
    # not QEMU, or the qemu_fw_cfg module was not loaded
    return 1
  fi
  [ -r "$FW_CFG" ] || return 1
  cat "$FW_CFG" >"$W/userdata"
}

p_ec2() {
  reachable || return 1
  # IMDSv2: a session token from a PUT; without one (IMDSv1 only) the requests go bare
  tok=$(raw PUT /latest/api/token 'X-aws-ec2-metadata-token-ttl-seconds: 300' | sed '1,/^$/d')
  h=${tok:+X-aws-ec2-metadata-token: $tok}
  get "$BASE/latest/meta-data/instance-id" "$h" >"$W/id" && [ -s "$W/id" ] || return 1
  get "$BASE/latest/meta-data/local-hostname" "$h" >"$W/hostname"
  for i in $(get "$BASE/latest/meta-data/public-keys/" "$h" | sed -n 's/^\([0-9][0-9]*\)=.*/\1/p'); do
    get "$BASE/latest/meta-data/public-keys/$i/openssh-key" "$h" | addkeys
  done
  get "$BASE/latest/user-data" "$h" >"$W/userdata" || rm -f "$W/userdata"
  return 0
}

p_gcp() {
  reachable || return 1
  h='Metadata-Flavor: Google'
  m=$BASE/computeMetadata/v1
  get "$m/instance/id" "$h" >"$W/id" && [ -s "$W/id" ] || return 1
  get "$m/instance/hostname" "$h" >"$W/hostname"
  # "user:ssh-ed25519 AAAA... comment" lines; the project's keys unless the instance blocks them
  get "$m/instance/attributes/ssh-keys" "$h" | sed 's/^[^:]*://' | addkeys
  [ "$(get "$m/instance/attributes/block-project-ssh-keys" "$h")" = true ] ||
    get "$m/project/attributes/ssh-keys" "$h" | sed 's/^[^:]*://' | addkeys
  get "$m/instance/attributes/user-data" "$h" >"$W/userdata" ||
    get "$m/instance/attributes/userdata" "$h" >"$W/userdata" || rm -f "$W/userdata"
  return 0
}

p_azure() {
  reachable || return 1
  h='Metadata: true'
  get "$BASE/metadata/instance?api-version=2021-02-01" "$h" >"$W/metadata" && jq -e .compute "$W/metadata" >/dev/null 2>&1 || { rm -f "$W/metadata"; return 1; }
  jq -r '.compute.osProfile.computerName // .compute.name // empty' "$W/metadata" >"$W/hostname"
  jq -r '.compute.publicKeys // [] | .[].keyData | strings' "$W/metadata" | addkeys
  # userData is base64 (empty when none was given)
  if get "$BASE/metadata/instance/compute/userData?api-version=2021-01-01&format=text" "$h" >"$W/userdata.b64" && [ -s "$W/userdata.b64" ]; then
    base64 -d <"$W/userdata.b64" >"$W/userdata" || { say "azure: userData is not base64: ignored"; rm -f "$W/userdata"; }
  fi
  return 0
}

p_openstack() {
  reachable || return 1
  get "$BASE/openstack/latest/meta_data.json" >"$W/metadata" && jq -e 'type == "object"' "$W/metadata" >/dev/null 2>&1 || { rm -f "$W/metadata"; return 1; }
  openstack_meta "$W/metadata"
  get "$BASE/openstack/latest/user_data" >"$W/userdata" || rm -f "$W/userdata"
  return 0
}

# ---------------------------------------------------------------- writing /run/config
# LinuxKit's config tree: one line per entry, "f|d <TAB> path <TAB> perm <TAB> base64 content"
# (no field empty: a tab is IFS white space, so read would merge two in a row),
# or "e <TAB> path <TAB> why" for an entry that is neither a file nor a directory.
TREE='
def perm($default): if (.perm | type) == "string" and (.perm | test("^[0-7]{3,4}$")) then .perm else $default end;
def tree($p):
  to_entries[] | .key as $k | .value as $v | ($p + $k) as $path |
  if ($k | test("^[^/\t\n]+$") | not) or $k == "." or $k == ".." then "e\t\($path)\tnot a file name"
  elif ($v | type) != "object" then "e\t\($path)\tnot an object"
  elif ($v | has("content")) and ($v | has("entries")) then "e\t\($path)\tboth content and entries"
  elif ($v | has("content")) then
    if ($v.content | type) == "string" then "f\t\($path)\t\($v | perm("0644"))\t\($v.content | @base64)" else "e\t\($path)\tcontent is not a string" end
  elif ($v.entries | type) == "object" then "d\t\($path)\t\($v | perm("0755"))", ($v.entries | tree($path + "/"))
  else "e\t\($path)\tneither content nor entries" end;
tree("")
'

write_tree() { # userdata file
  jq -r "$TREE" "$1" >"$W/tree" 2>/dev/null || { say "userdata: JSON but not a config tree: only /run/config/userdata"; return; }
  tab=$(printf '\t')
  n=0
  while IFS=$tab read -r kind path perm data; do
    case $kind in
      d) mkdir -p "$OUT/$path" && chmod "$perm" "$OUT/$path" ;;
      f) printf '%s' "$data" | base64 -d >"$OUT/$path" && chmod "$perm" "$OUT/$path" && n=$((n+1)) ;;
      e) say "userdata: $path: $perm: skipped (an entry has either \"content\" or \"entries\")" ;;
    esac
  done <"$W/tree"
  say "userdata: $n file(s) from its JSON config tree"
}

install_found() { # provider
  mkdir -p "$OUT" && chmod 0755 "$OUT"
  echo "$1" >"$OUT/provider"
  if [ -f "$W/userdata" ]; then
    cp "$W/userdata" "$OUT/userdata" && chmod 0644 "$OUT/userdata"
    say "userdata: $(wc -c <"$OUT/userdata") bytes in $OUT/userdata"
  fi
  [ -f "$W/metadata" ] && cp "$W/metadata" "$OUT/metadata" && chmod 0644 "$OUT/metadata"
  if [ -s "$W/keys" ]; then
    mkdir -p "$OUT/ssh" && chmod 0755 "$OUT/ssh"
    sort -u "$W/keys" >"$OUT/ssh/authorized_keys" && chmod 0600 "$OUT/ssh/authorized_keys"
    say "ssh: $(wc -l <"$OUT/ssh/authorized_keys") key(s) in $OUT/ssh/authorized_keys"
  fi
  # a hostname is one label: the first of an FQDN (a cloud's internal domain name)
  name=$(head -1 "$W/hostname" 2>/dev/null | tr -d ' \t')
  name=${name%%.*}
  [ -n "$name" ] && echo "$name" >"$OUT/hostname"
  # the user-data's own tree comes last: it may replace what the provider said
  [ -f "$W/userdata" ] && jq -e 'type == "object"' "$W/userdata" >/dev/null 2>&1 && write_tree "$W/userdata"
  if [ -s "$OUT/hostname" ]; then
    name=$(head -1 "$OUT/hostname")
    if [ "${METADATA_SET_HOSTNAME:-1}" = 0 ]; then say "hostname $name"
    elif hostname "$name"; then say "hostname set to $name"
    else say "hostname $name: cannot set it (the container needs uts: host and CAP_SYS_ADMIN)"; fi
  fi
}

# ---------------------------------------------------------------- main
[ $# -gt 0 ] || set -- $ALL
for p in "$@"; do
  case " $ALL " in *" $p "*) ;; *) say "unknown provider \"$p\": the providers are $ALL"; exit 2 ;; esac
done
for p in "$@"; do
  rm -rf "$W/id" "$W/keys" "$W/hostname" "$W/userdata" "$W/metadata"
  if "p_$p"; then
    say "found $p"
    install_found "$p"
    exit 0
  fi
done
say "no provider answered (tried $*): nothing written to $OUT"
exit 0
