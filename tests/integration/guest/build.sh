#!/usr/bin/env bash
# Builds (once, then caches) the tiny QEMU guest of the integration tests: a
# Debian kernel and a busybox-static initramfs whose /init is guest/init.
#
#   tests/integration/guest/build.sh     # prints GUEST_KERNEL=... and GUEST_INITRD=...
#
# The kernel comes from the Debian package linux-image-amd64 depends on now
# (apt-get download: it is not installed into the system), or from
# $VSWITCHD_GUEST_KERNEL_PKG (e.g. linux-image-6.1.0-56-amd64). Only vmlinuz and
# the modules virtio-net needs on QEMU's PC machine are kept.
#
# Cache: ${VSWITCHD_GUEST_CACHE:-/var/cache/vswitchd-test-guest}
#   kernel-PKG_VERSION/      vmlinuz (bzImage), vmlinux (its ELF image, for a
#                            fast PVH boot), config, modules/*.ko, modules/order
#   initramfs-PKG_VERSION-HASH.cpio.gz   HASH covers guest/init, this script and
#                                        busybox, so editing them rebuilds it
# Each is built in a temporary directory and moved into place, so an interrupted
# build leaves nothing half-made; a lock serialises concurrent builds.
#
# Output on stdout (KEY=VALUE lines): GUEST_KERNEL, GUEST_INITRD, GUEST_KERNEL_PKG,
# GUEST_KERNEL_VERSION, GUEST_BUILT (what was built now: "none" when all was cached).
# Exit status: 0 ready; 77 cannot be built here (a tool is missing, the package
# cannot be resolved or downloaded), with the reason on stderr; 1 an error.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${VSWITCHD_GUEST_CACHE:-/var/cache/vswitchd-test-guest}"
# The modules virtio-net needs (the PCI transport and the driver); their
# dependencies (virtio, virtio_ring, failover, ...) come from modules.dep.
MODULES=(virtio_pci virtio_net)
INSTALL_HINT="install them with tests/install-deps.sh test (or: apt-get install qemu-system-x86 busybox-static cpio kmod)"

say() { printf 'guest build: %s\n' "$*" >&2; }
cannot() { say "$*"; exit 77; }
die() { say "ERROR: $*"; exit 1; }

# Tools. depmod and modprobe (kmod) live in /sbin, which a user's PATH may lack.
PATH="$PATH:/usr/sbin:/sbin"
missing=()
for tool in apt-get apt-cache dpkg-deb cpio gzip depmod modprobe flock sha256sum; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
BUSYBOX="$(command -v busybox || true)"
[ -n "$BUSYBOX" ] || missing+=(busybox)
[ "${#missing[@]}" -eq 0 ] || cannot "missing tools: ${missing[*]}; $INSTALL_HINT"
# The initramfs has no libc: busybox must be the static one (busybox-static).
if ldd "$BUSYBOX" >/dev/null 2>&1; then
  cannot "$BUSYBOX is dynamically linked: apt-get install busybox-static"
fi

mkdir -p "$CACHE" || cannot "cannot create the cache directory $CACHE (set VSWITCHD_GUEST_CACHE)"
exec {lock}>"$CACHE/.lock"
# (A first build takes 10-20 s; stay within the tests' 120 s ctest timeout.)
flock -w 90 "$lock" || die "another build has held $CACHE/.lock for 90 s"
# We hold the lock: any temporary directory left is from a build that was killed.
rm -rf "$CACHE"/.tmp.*
TMP=""
trap '[ -n "$TMP" ] && rm -rf "$TMP"' EXIT

# --- which kernel package --------------------------------------------------
pkg="${VSWITCHD_GUEST_KERNEL_PKG:-}"
if [ -z "$pkg" ]; then
  # linux-image-amd64 is a metapackage: "Depends: linux-image-6.1.0-NN-amd64".
  pkg="$(apt-cache depends linux-image-amd64 2>/dev/null |
         sed -nE 's/^ *Depends: (linux-image-[0-9][^ ]*-amd64)$/\1/p' | head -n 1 || true)"
fi
ver=""
[ -n "$pkg" ] && ver="$(apt-cache show --no-all-versions "$pkg" 2>/dev/null |
                        sed -n 's/^Version: //p' | head -n 1 || true)"
if [ -n "$ver" ]; then
  key="${pkg}_${ver}"
elif [ -n "${VSWITCHD_GUEST_KERNEL_PKG:-}" ]; then
  cannot "apt-cache does not know VSWITCHD_GUEST_KERNEL_PKG=$pkg (apt-get update?)"
else
  # No package lists (never updated, or offline): a kernel cached earlier will do.
  key="$(find "$CACHE" -mindepth 1 -maxdepth 1 -name 'kernel-*' -printf '%f\n' | sort -V | tail -n 1)"
  key="${key#kernel-}"
  [ -n "$key" ] || cannot "cannot resolve the kernel package (${pkg:-linux-image-amd64}) with apt-cache: run apt-get update"
  say "apt-cache does not know ${pkg:-linux-image-amd64}; using the cached kernel $key"
  pkg="${key%%_*}"
  ver="${key#*_}"
fi
KDIR="$CACHE/kernel-$key"
built=()

# --- the kernel and its modules ----------------------------------------------
if [ ! -f "$KDIR/vmlinuz" ]; then
  t0="$(date +%s.%N)"
  TMP="$(mktemp -d "$CACHE/.tmp.XXXXXX")"
  # apt drops privileges to _apt to download: let it write there.
  chmod 755 "$TMP"
  id _apt >/dev/null 2>&1 && chown _apt "$TMP"
  say "downloading $pkg=$ver"
  if ! (cd "$TMP" && apt-get download -q "$pkg=$ver") >"$TMP/download.log" 2>&1; then
    tail -n 5 "$TMP/download.log" >&2
    cannot "cannot download $pkg=$ver (no network, or the package lists are stale: apt-get update)"
  fi
  deb="$(find "$TMP" -maxdepth 1 -name '*.deb' | head -n 1)"
  mkdir "$TMP/x" "$TMP/k" "$TMP/k/modules"
  dpkg-deb -x "$deb" "$TMP/x"
  vmlinuz="$(find "$TMP/x/boot" -maxdepth 1 -name 'vmlinuz-*' | head -n 1)"
  [ -n "$vmlinuz" ] || die "no boot/vmlinuz-* in $pkg"
  kver="${vmlinuz##*/vmlinuz-}"
  # The package ships no modules.dep (its postinst runs depmod): make one.
  base="$TMP/x"
  [ -d "$base/lib/modules/$kver" ] || base="$TMP/x/usr"   # a merged-/usr kernel package
  [ -d "$base/lib/modules/$kver" ] || die "no lib/modules/$kver in $pkg"
  depmod -b "$base" "$kver"
  # The load order, dependencies first ("insmod PATH" lines; a module built into
  # the kernel shows as "builtin NAME" and needs no loading).
  deps="$(modprobe -d "$base" -S "$kver" --show-depends -a "${MODULES[@]}")" ||
    die "modprobe cannot resolve ${MODULES[*]} in $pkg"
  for m in "${MODULES[@]}"; do
    grep -qE "(/$m\.ko|^builtin $m)" <<<"$deps" || die "$m is neither a module nor built into $pkg"
  done
  : >"$TMP/k/modules/order"
  while read -r word path _; do
    [ "$word" = insmod ] || continue
    f="${path##*/}"
    grep -qxF "$f" "$TMP/k/modules/order" && continue   # the same dependency again
    cp "$path" "$TMP/k/modules/$f"
    echo "$f" >>"$TMP/k/modules/order"
  done <<<"$deps"
  cp "$vmlinuz" "$TMP/k/vmlinuz"
  cp "$TMP"/x/boot/config-* "$TMP/k/config"
  # Under TCG, firmware and decompressing the bzImage take longer than the
  # kernel's own boot (~2.5 s of a ~4.5 s boot here). A PVH kernel's ELF image,
  # given to QEMU's -kernel, starts at once: keep it too when the kernel has
  # CONFIG_PVH (Debian's has), unpacked from the bzImage (as the kernel's
  # scripts/extract-vmlinux does: the first compressed stream that yields an ELF).
  py="$(command -v python3 || true)"
  if grep -qx 'CONFIG_PVH=y' "$TMP/k/config" && [ -n "$py" ]; then
    "$py" - "$vmlinuz" "$TMP/k/vmlinux" <<'EOF' || say "no ELF kernel found in the bzImage: booting the bzImage (slower)"
import lzma, sys, zlib
data = open(sys.argv[1], "rb").read()
for magic, unpack in ((b"\xfd7zXZ\x00", lambda d: lzma.LZMADecompressor(lzma.FORMAT_XZ).decompress(d)),
                      (b"\x1f\x8b\x08", lambda d: zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(d))):
    at = data.find(magic)
    while at >= 0:
        try:
            elf = unpack(data[at:])
            if elf.startswith(b"\x7fELF"):
                open(sys.argv[2], "wb").write(elf)
                sys.exit(0)
        except (lzma.LZMAError, zlib.error, EOFError):
            pass
        at = data.find(magic, at + 1)
sys.exit(1)
EOF
  fi
  echo "$kver" >"$TMP/k/kernel-release"
  say "$pkg=$ver: kernel $kver, modules (load order): $(tr '\n' ' ' <"$TMP/k/modules/order")"
  say "config: $(grep -E '^CONFIG_(VIRTIO|VIRTIO_PCI|VIRTIO_NET|NET_FAILOVER|FAILOVER)=' "$TMP/k/config" | tr '\n' ' ')"
  mv "$TMP/k" "$KDIR"
  rm -rf "$TMP"
  TMP=""
  built+=("kernel:$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1fs", b - a }')")
fi

# --- the initramfs --------------------------------------------------------------
hash="$(cat "$HERE/init" "$HERE/build.sh" "$BUSYBOX" | sha256sum | cut -c1-12)"
INITRD="$CACHE/initramfs-$key-$hash.cpio.gz"
if [ ! -f "$INITRD" ]; then
  t0="$(date +%s.%N)"
  TMP="$(mktemp -d "$CACHE/.tmp.XXXXXX")"
  r="$TMP/root"
  mkdir -p "$r/bin" "$r/dev" "$r/proc" "$r/sys" "$r/tmp" "$r/lib/modules"
  cp "$BUSYBOX" "$r/bin/busybox"
  for applet in $("$BUSYBOX" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$r/bin/$applet"
  done
  install -m 755 "$HERE/init" "$r/init"
  cp "$KDIR"/modules/*.ko "$KDIR/modules/order" "$r/lib/modules/"
  # A console for the kernel to open before /init mounts devtmpfs (root only;
  # /init reopens it from devtmpfs either way).
  mknod -m 600 "$r/dev/console" c 5 1 2>/dev/null || true
  (cd "$r" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -6 -n >"$TMP/initramfs"
  mv "$TMP/initramfs" "$INITRD"
  rm -rf "$TMP"
  TMP=""
  built+=("initramfs:$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1fs", b - a }')")
fi

# Something new was built: drop what earlier kernels or earlier versions of
# guest/init left, once a day old (a run of another checkout may still use them).
if [ "${#built[@]}" -gt 0 ]; then
  find "$CACHE" -mindepth 1 -maxdepth 1 \( -name 'kernel-*' -o -name 'initramfs-*' \) -mtime +0 \
    ! -name "kernel-$key" ! -name "${INITRD##*/}" -exec rm -rf {} +
fi

# The PVH ELF image when there is one (it boots twice as fast), else the bzImage.
if [ -f "$KDIR/vmlinux" ]; then
  echo "GUEST_KERNEL=$KDIR/vmlinux"
else
  echo "GUEST_KERNEL=$KDIR/vmlinuz"
fi
echo "GUEST_INITRD=$INITRD"
echo "GUEST_KERNEL_PKG=$pkg"
echo "GUEST_KERNEL_VERSION=$ver"
echo "GUEST_BUILT=${built[*]:-none}"
