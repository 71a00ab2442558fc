#!/bin/bash
# Build a Linux kernel from source with osbuild's config fragment, and package it the way osbuild
# (and LinuxKit) expect a kernel image: /kernel, /kernel.tar (lib/modules/<kver>/...) and /config,
# in an OCI image layout that `osbuild cache import` loads. See kernel/README.md ("Build your own").
# Not run in CI: a full build takes tens of minutes on two cores.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)

usage() {
  cat <<EOF
Usage: kernel/source/build.sh [options]

Builds a kernel from source with osbuild's config fragment and writes it as an OCI image layout
that \`osbuild cache import\` loads, plus LinuxKit's kernel layout (kernel, kernel.tar, config).

Options:
  --arch amd64|arm64   target architecture (default: the host's). arm64 on an x86_64 host
                       cross-compiles with aarch64-linux-gnu- (Debian: gcc-aarch64-linux-gnu).
  --source PATH        kernel source: a directory, a tarball (.tar, .tar.gz, .tar.xz, .tar.zst)
                       or a linux-source-*.deb. Default: Debian's linux-source-6.1 package,
                       fetched once with \`apt-get download\` into the cache dir.
  --fragment FILE      config fragment to merge (repeatable, merged in order; later ones win).
                       Default: $HERE/osbuild.config, then
                       $HERE/osbuild-<arch>.config.
  --tiny               start from \`make tinyconfig\` (only what the fragments ask for) instead
                       of \`make defconfig\` (upstream's broad default for the arch).
  --tag REF            image reference the OCI layout names (default:
                       osbuild/kernel-custom:<version>.<patchlevel>, e.g. osbuild/kernel-custom:6.1).
  --out DIR            output directory (default: ./out/kernel-custom). Writes DIR/<arch>/{kernel,
                       kernel.tar,config} and DIR/oci (an OCI image layout; building the other
                       arch into the same DIR with the same tag makes it a two-arch image).
  --cache DIR          where sources are fetched and unpacked and the build trees live
                       (default: \${XDG_CACHE_HOME:-~/.cache}/osbuild-kernel-src).
  --config-only        stop after writing and checking .config (prints its path).
  -j N, --jobs N       parallel make jobs (default: nproc). Compiles run under \`nice -n 10\`.
  -h, --help           this text.

Every option a fragment sets is checked in the final .config: Kconfig drops options whose
dependencies are unmet without an error, so the build fails and names them (with their
"depends on") instead. Output is deterministic: SOURCE_DATE_EPOCH (default: the mtime of the
source's Makefile) fixes timestamps; build user and host are "osbuild".

Examples:
  # check that the fragment applies to Debian's 6.1 source, for both arches (a minute each)
  kernel/source/build.sh --arch amd64 --config-only
  kernel/source/build.sh --arch arm64 --config-only
  # a small kernel (tinyconfig + fragment), then use it in a blueprint
  kernel/source/build.sh --arch amd64 --tiny --tag osbuild/kernel-custom:6.1
  osbuild cache import out/kernel-custom/oci
  # kernel: { image: osbuild/kernel-custom:6.1, cmdline: "console=ttyS0" }
  # your own tree and an extra fragment of yours
  kernel/source/build.sh --source ~/src/linux --fragment kernel/source/osbuild.config \\
      --fragment kernel/source/osbuild-amd64.config --fragment my.config
EOF
}

die() { echo "build.sh: $*" >&2; exit 1; }
say() { echo "build.sh: $*" >&2; }

ARCH=; SOURCE=; FRAGMENTS=(); TINY=; TAG=; OUT=./out/kernel-custom; CONFIG_ONLY=
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/osbuild-kernel-src
JOBS=$(nproc 2>/dev/null || echo 2)
while [ $# -gt 0 ]; do
  case $1 in
    --arch) ARCH=${2:?--arch needs a value}; shift 2 ;;
    --source) SOURCE=${2:?--source needs a path}; shift 2 ;;
    --fragment) FRAGMENTS+=("${2:?--fragment needs a file}"); shift 2 ;;
    --tiny) TINY=1; shift ;;
    --tag) TAG=${2:?--tag needs a reference}; shift 2 ;;
    --out) OUT=${2:?--out needs a directory}; shift 2 ;;
    --cache) CACHE=${2:?--cache needs a directory}; shift 2 ;;
    --config-only) CONFIG_ONLY=1; shift ;;
    -j) JOBS=${2:?-j needs a number}; shift 2 ;;
    -j*) JOBS=${1#-j}; shift ;;
    --jobs) JOBS=${2:?--jobs needs a number}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

HOST_ARCH=$(dpkg --print-architecture 2>/dev/null || uname -m)
case $HOST_ARCH in x86_64) HOST_ARCH=amd64 ;; aarch64) HOST_ARCH=arm64 ;; esac
ARCH=${ARCH:-$HOST_ARCH}
case $ARCH in
  amd64) KARCH=x86_64; IMAGE_TARGET=bzImage; IMAGE_PATH=arch/x86/boot/bzImage; CROSS_PREFIX=x86_64-linux-gnu- ;;
  arm64) KARCH=arm64; IMAGE_TARGET=Image; IMAGE_PATH=arch/arm64/boot/Image; CROSS_PREFIX=aarch64-linux-gnu- ;;
  *) die "--arch must be amd64 or arm64, not '$ARCH'" ;;
esac
CROSS=; [ "$ARCH" != "$HOST_ARCH" ] && CROSS=$CROSS_PREFIX
[[ $JOBS =~ ^[1-9][0-9]*$ ]] || die "-j wants a positive number, not '$JOBS'"
if [ ${#FRAGMENTS[@]} -eq 0 ]; then
  FRAGMENTS=("$HERE/osbuild.config")
  [ -f "$HERE/osbuild-$ARCH.config" ] && FRAGMENTS+=("$HERE/osbuild-$ARCH.config")
fi
for f in "${FRAGMENTS[@]}"; do [ -f "$f" ] || die "fragment $f does not exist"; done
for i in "${!FRAGMENTS[@]}"; do FRAGMENTS[$i]=$(cd "$(dirname "${FRAGMENTS[$i]}")" && pwd -P)/$(basename "${FRAGMENTS[$i]}"); done

# ---------------------------------------------------------------- host tools
need() { # need TOOL DEBIAN-PACKAGE
  command -v "$1" >/dev/null 2>&1 || die "missing host tool $1: apt-get install $2"
}
need make build-essential; need gcc build-essential; need bc bc; need bison bison; need flex flex
need perl perl; need tar tar; need xz xz-utils; need gzip gzip; need sha256sum coreutils
[ -n "$CONFIG_ONLY" ] || { need depmod kmod; need cpio cpio; }
[ -z "$CROSS" ] || need "${CROSS}gcc" "$(echo "gcc-${CROSS%-}" | tr _ -)"   # gcc-aarch64-linux-gnu, gcc-x86-64-linux-gnu
if [ -z "$CONFIG_ONLY" ]; then
  # libelf (objtool, resolve_btfids) and openssl (certificate tools) headers are needed to build
  for h in gelf.h:libelf-dev openssl/opensslv.h:libssl-dev; do
    [ -e "/usr/include/${h%%:*}" ] || [ -e "/usr/include/$(gcc -print-multiarch 2>/dev/null)/${h%%:*}" ] ||
      die "missing header ${h%%:*}: apt-get install ${h#*:}"
  done
fi

# ---------------------------------------------------------------- 1. source
mkdir -p "$CACHE"
if [ -z "$SOURCE" ]; then
  SOURCE=$(ls "$CACHE"/linux-source-6.1_*_all.deb 2>/dev/null | sort -V | tail -1 || true)
  if [ -z "$SOURCE" ]; then
    need apt-get apt
    say "fetching Debian's linux-source-6.1 into $CACHE (~140 MB, once)"
    # _apt cannot write into a directory under /root: download as the caller
    (cd "$CACHE" && apt-get -q -o APT::Sandbox::User="$(id -un)" download linux-source-6.1) ||
      die "apt-get download linux-source-6.1 failed (run apt-get update? or give --source)"
    SOURCE=$(ls "$CACHE"/linux-source-6.1_*_all.deb | sort -V | tail -1)
  fi
fi
[ -e "$SOURCE" ] || die "--source $SOURCE does not exist"
SOURCE=$(cd "$(dirname "$SOURCE")" && pwd -P)/$(basename "$SOURCE")

if [ -d "$SOURCE" ]; then
  SRC=$SOURCE
else
  # unpack once per source file; a finished unpack is renamed into place, so never half there
  key=$(basename "$SOURCE"); key=${key%.deb}; key=${key%.tar*}; key=${key%.tgz}
  dest="$CACHE/src/$key"
  if [ ! -d "$dest" ]; then
    say "unpacking $SOURCE into $dest"
    rm -rf "$dest.tmp"; mkdir -p "$dest.tmp"
    case $SOURCE in
      *.deb) need dpkg-deb dpkg; dpkg-deb --fsys-tarfile "$SOURCE" | tar -xO --wildcards -f - './usr/src/linux-source-*.tar.*' |
               tar -xJ -C "$dest.tmp" ;;
      *.tar.xz|*.txz) tar -xJf "$SOURCE" -C "$dest.tmp" ;;
      *.tar.gz|*.tgz) tar -xzf "$SOURCE" -C "$dest.tmp" ;;
      *.tar.zst) tar --zstd -xf "$SOURCE" -C "$dest.tmp" ;;
      *.tar) tar -xf "$SOURCE" -C "$dest.tmp" ;;
      *) die "--source $SOURCE: not a directory, a .tar[.gz|.xz|.zst] or a .deb" ;;
    esac
    mv "$dest.tmp" "$dest"
  fi
  SRC=$(dirname "$(find "$dest" -mindepth 1 -maxdepth 2 -name Makefile | sort | head -1)")
fi
[ -f "$SRC/Makefile" ] && [ -f "$SRC/scripts/kconfig/merge_config.sh" ] ||
  die "$SRC does not look like a kernel source tree (no Makefile or scripts/kconfig/merge_config.sh)"
[ ! -f "$SRC/.config" ] || die "$SRC has a .config: the build is out of tree (O=), so the source must be clean (make mrproper)"

export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(stat -c %Y "$SRC/Makefile")}
export KBUILD_BUILD_TIMESTAMP; KBUILD_BUILD_TIMESTAMP=$(LC_ALL=C date -u -d "@$SOURCE_DATE_EPOCH")
export KBUILD_BUILD_USER=osbuild KBUILD_BUILD_HOST=osbuild KBUILD_BUILD_VERSION=1
export LC_ALL=C TZ=UTC

BUILD="$CACHE/build/$(basename "$SRC")-$(echo "$SRC" | sha256sum | cut -c1-8)-$ARCH${TINY:+-tiny}"
mkdir -p "$BUILD"
MAKE=(nice -n 10 make -s --no-print-directory -C "$SRC" O="$BUILD" ARCH="$KARCH" ${CROSS:+CROSS_COMPILE=$CROSS} -j"$JOBS")

# ---------------------------------------------------------------- 2. configuration
base=defconfig; [ -n "$TINY" ] && base=tinyconfig
say "source $SRC, arch $ARCH, base $base, fragments: ${FRAGMENTS[*]}"
rm -f "$BUILD/.config"
"${MAKE[@]}" "$base" >"$BUILD/merge.log" 2>&1 || { cat "$BUILD/merge.log" >&2; die "make $base failed"; }
# -m: merge only (merge_config would otherwise run alldefconfig); its warnings about overridden
# values are expected (fragments override the base), the check below is what counts
(cd "$SRC" && ARCH=$KARCH CROSS_COMPILE=$CROSS scripts/kconfig/merge_config.sh -m -O "$BUILD" "$BUILD/.config" "${FRAGMENTS[@]}" >>"$BUILD/merge.log" 2>&1) ||
  { cat "$BUILD/merge.log" >&2; die "merge_config.sh failed"; }
"${MAKE[@]}" olddefconfig >>"$BUILD/merge.log" 2>&1 || { cat "$BUILD/merge.log" >&2; die "make olddefconfig failed"; }

# What each fragment asks for (later fragments win), against what Kconfig made of it.
# Output: NAME<TAB>asked<TAB>got, one line per option that did not stick.
check_config() {
  awk -v cfg="$BUILD/.config" '
    {
      name = ""; val = ""
      if (match($0, /^CONFIG_[A-Za-z0-9_]+=/)) { name = substr($0, 1, RLENGTH - 1); val = substr($0, RLENGTH + 1) }
      else if (match($0, /^# CONFIG_[A-Za-z0-9_]+ is not set/)) { name = $2; val = "n" }
      if (name == "") next
      if (FILENAME == cfg) got[name] = val
      else { if (!(name in asked)) order[++n] = name; asked[name] = val }
    }
    END {
      for (i = 1; i <= n; i++) {
        k = order[i]; a = asked[k]; g = (k in got) ? got[k] : "n"
        if (a == g) continue
        if (a == "m" && g == "y") continue   # built in because something built in needs it: as good
        printf "%s\t%s\t%s\n", k, a, (k in got) ? g : "not set"
      }
    }' "${FRAGMENTS[@]}" "$BUILD/.config"
}
bad=$(check_config)
if [ -n "$bad" ]; then
  echo "build.sh: these options of the fragments did not end up in $BUILD/.config as asked:" >&2
  while IFS=$'\t' read -r name asked got; do
    sym=${name#CONFIG_}
    echo "  $name: asked $asked, got $got" >&2
    # where Kconfig defines it, and what it depends on: the usual reason it was dropped
    defs=$(grep -rlE --include='Kconfig*' "^[[:space:]]*(menu)?config[[:space:]]+${sym}[[:space:]]*\$" "$SRC" 2>/dev/null | head -3 || true)
    if [ -z "$defs" ]; then echo "      no such option in this kernel (misspelt, renamed or removed)" >&2; continue; fi
    for d in $defs; do
      awk -v sym="$sym" -v file="${d#"$SRC"/}" '
        $0 ~ "^[[:space:]]*(menu)?config[[:space:]]+" sym "[[:space:]]*$" { on = 1; print "      defined in " file; next }
        on && /^[[:space:]]*(menu)?config[[:space:]]|^[[:space:]]*(choice|endchoice|menu|endmenu|if|endif|source)([[:space:]]|$)/ { on = 0 }
        on && /^[[:space:]]*(depends on|select|default)[[:space:]]/ { sub(/^[[:space:]]+/, ""); print "        " $0 }
      ' "$d" >&2
    done
    echo "      (and whatever the enclosing menu or \`if\` block of that Kconfig file depends on)" >&2
  done <<<"$bad"
  echo "build.sh: fix the fragment (enable the dependencies, or drop the option) and run again" >&2
  exit 1
fi
nopts=$(cat "${FRAGMENTS[@]}" | grep -cE '^(CONFIG_[A-Za-z0-9_]+=|# CONFIG_[A-Za-z0-9_]+ is not set)' || true)
# kernelrelease reads CONFIG_LOCALVERSION from include/config/auto.conf, which syncconfig writes
"${MAKE[@]}" syncconfig >>"$BUILD/merge.log" 2>&1 || { cat "$BUILD/merge.log" >&2; die "make syncconfig failed"; }
KVER=$("${MAKE[@]}" kernelrelease)
say "config OK: all $nopts options of the fragments are set as asked; kernel $KVER"
if [ -n "$CONFIG_ONLY" ]; then echo "$BUILD/.config"; exit 0; fi

# ---------------------------------------------------------------- 3. build
grep -q '^CONFIG_MODULES=y' "$BUILD/.config" && MODULES=1 || MODULES=
start=$(date +%s)
say "building $IMAGE_TARGET${MODULES:+ and modules} with -j$JOBS (this takes a while)"
"${MAKE[@]}" "$IMAGE_TARGET" ${MODULES:+modules}
say "built in $(( $(date +%s) - start ))s"

STAGE="$BUILD/staging"
rm -rf "$STAGE"; mkdir -p "$STAGE/lib/modules/$KVER"
if [ -n "$MODULES" ]; then
  "${MAKE[@]}" modules_install INSTALL_MOD_PATH="$STAGE" INSTALL_MOD_STRIP=1 DEPMOD=true >/dev/null
else
  cp "$BUILD/modules.builtin" "$BUILD/modules.builtin.modinfo" "$STAGE/lib/modules/$KVER/" 2>/dev/null || true
fi
# links back into the build tree mean nothing on the target
rm -f "$STAGE/lib/modules/$KVER/build" "$STAGE/lib/modules/$KVER/source"
depmod -b "$STAGE" -F "$BUILD/System.map" "$KVER"
[ -f "$STAGE/lib/modules/$KVER/modules.dep" ] || die "depmod wrote no modules.dep"

# ---------------------------------------------------------------- 4. LinuxKit's kernel layout
IMG="$OUT/$ARCH"
mkdir -p "$IMG"
TAR=(tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner --format=gnu)
install -m 0644 "$BUILD/$IMAGE_PATH" "$IMG/kernel"
install -m 0644 "$BUILD/.config" "$IMG/config"
"${TAR[@]}" -C "$STAGE" -cf "$IMG/kernel.tar.tmp" lib && mv "$IMG/kernel.tar.tmp" "$IMG/kernel.tar"
touch -d "@$SOURCE_DATE_EPOCH" "$IMG/kernel" "$IMG/config" "$IMG/kernel.tar"

# ---------------------------------------------------------------- 5. OCI image layout
OCI="$OUT/oci"
TAG=${TAG:-osbuild/kernel-custom:$(echo "$KVER" | cut -d. -f1,2)}
mkdir -p "$OCI/blobs/sha256"
blob() { # blob FILE -> prints "sha256:<hex> <size>" after storing FILE as a blob
  local hex size
  hex=$(sha256sum "$1" | cut -d' ' -f1); size=$(stat -c %s "$1")
  mv "$1" "$OCI/blobs/sha256/$hex"
  echo "sha256:$hex $size"
}
tmp="$OCI/.tmp-$ARCH"; mkdir -p "$tmp"
"${TAR[@]}" --mode=0644 -C "$IMG" -cf "$tmp/layer.tar" config kernel kernel.tar
diff_id=sha256:$(sha256sum "$tmp/layer.tar" | cut -d' ' -f1)
gzip -n -6 "$tmp/layer.tar"
r=$(blob "$tmp/layer.tar.gz"); read -r layer_digest layer_size <<<"$r"
created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
printf '{"architecture":"%s","config":{"Labels":{"org.opencontainers.image.version":"%s"}},"created":"%s","os":"linux","rootfs":{"diff_ids":["%s"],"type":"layers"}}' \
  "$ARCH" "$KVER" "$created" "$diff_id" >"$tmp/config.json"
r=$(blob "$tmp/config.json"); read -r config_digest config_size <<<"$r"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%s}]}' \
  "$config_digest" "$config_size" "$layer_digest" "$layer_size" >"$tmp/manifest.json"
r=$(blob "$tmp/manifest.json"); read -r manifest_digest manifest_size <<<"$r"
printf '%s %s %s\n' "$manifest_digest" "$manifest_size" "$TAG" >"$IMG/oci-manifest"

# The other arch's manifest, if it was built into the same --out with the same tag: one image
# index names both (a two-arch image, like osbuild/kernel-debian-cloud).
entries=(); keep=()
for a in amd64 arm64; do
  [ -f "$OUT/$a/oci-manifest" ] || continue
  read -r d s t <"$OUT/$a/oci-manifest"
  [ "$t" = "$TAG" ] && [ -f "$OCI/blobs/sha256/${d#sha256:}" ] || continue
  entries+=("$(printf '{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{"architecture":"%s","os":"linux"}}' "$d" "$s" "$a")")
  keep+=("${d#sha256:}")
  while read -r ref; do keep+=("${ref#sha256:}"); done < <(grep -oE 'sha256:[0-9a-f]{64}' "$OCI/blobs/sha256/${d#sha256:}")
done
annotation=$(printf '"annotations":{"org.opencontainers.image.ref.name":"%s"}' "$TAG")
if [ ${#entries[@]} -gt 1 ]; then
  (IFS=,; printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s]}' "${entries[*]}") >"$tmp/index.json"
  r=$(blob "$tmp/index.json"); read -r top_digest top_size <<<"$r"
  keep+=("${top_digest#sha256:}")
  top=$(printf '{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"%s","size":%s,%s}' "$top_digest" "$top_size" "$annotation")
else
  top=$(printf '{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{"architecture":"%s","os":"linux"},%s}' \
    "$manifest_digest" "$manifest_size" "$ARCH" "$annotation")
fi
printf '{"imageLayoutVersion":"1.0.0"}' >"$OCI/oci-layout"
printf '{"schemaVersion":2,"manifests":[%s]}' "$top" >"$tmp/index.json" && mv "$tmp/index.json" "$OCI/index.json"
rmdir "$tmp"
# blobs of earlier builds that nothing names any more
for f in "$OCI"/blobs/sha256/*; do
  h=$(basename "$f"); [[ " ${keep[*]} " == *" $h "* ]] || rm -f "$f"
done

ksize=$(stat -c %s "$IMG/kernel"); tsize=$(stat -c %s "$IMG/kernel.tar")
nmod=$(find "$STAGE/lib/modules/$KVER" -name '*.ko*' | wc -l)
say "kernel $KVER: $IMG/kernel ($((ksize / 1024)) KiB), kernel.tar ($((tsize / 1024)) KiB, $nmod modules)"
say "OCI layout $OCI names $TAG ($([ ${#entries[@]} -gt 1 ] && echo 'amd64 + arm64' || echo "$ARCH"))"
say "next: osbuild cache import $OCI   # then kernel: { image: $TAG } in a blueprint"
