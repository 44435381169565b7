#!/usr/bin/env bash
# Build a tiny bootable guest disk image (qcow2) from Debian packages only.
#
# Usage: scripts/build-guest-image.sh [--import NAME [--public]] [OUTPUT_DIR]
#   OUTPUT_DIR defaults to ${TASHI_CACHE_DIR:-$HOME/.cache/tashi}/guest.
#   Produces OUTPUT_DIR/tashi-guest.qcow2 and prints its path as the last line.
#   --import NAME: then imports it into Tashi (`tashi image import`, with the TASHI_URL
#   and token the CLI uses) as image NAME with its metadata: --min-memory 96; --public
#   (admins) lets every user boot it by NAME.
#
# Metadata: the guest needs at least MIN_MEMORY_MIB=96 MiB of memory (min_memory_mib;
# Tashi refuses smaller instances of it). Measured with QEMU 7.2 (TCG): it reaches
# TASHI-GUEST-READY at 88 MiB; at 80 MiB the kernel panics ("System is deadlocked on
# memory"), at 64 MiB it never gets past loading the kernel. 96 leaves a little room.
#
# Disk (64 MiB, no partition table): a FAT "superfloppy" over the first 48 MiB
# holding syslinux + the Debian kernel + a busybox initramfs; SeaBIOS boots the
# FAT boot sector in sector 0.  The last 16 MiB are free for the guest to write.
#
# The guest's /init (serial console, ttyS0) prints, in order:
#   TASHI-GUEST-DISK-WRITTEN     after writing a line at 56 MiB on /dev/vda
#   TASHI-GUEST-DISK <name> <bytes>
#                                one line per block device (vda, vdb, sda, ...)
#   TASHI-GUEST-HOSTNAME <name>  when a cloud-init NoCloud seed is attached (an ISO 9660
#                                disk labelled cidata holding meta-data and user-data):
#                                its local-hostname, which the guest takes
#   TASHI-GUEST-IP <addr>|none   after DHCP on eth0 (bounded to a few seconds)
#   TASHI-GUEST-READY            once acpid listens for the power button
#   TASHI-GUEST-HOSTPORT 8470 open|closed
#                                whether the guest could open a TCP connection to
#                                10.0.2.2:8470 (the manager's default port on the host,
#                                if QEMU's user-mode NAT lets the guest reach the host's
#                                loopback); printed after READY, within ~3 s
#   TASHI-GUEST-USERDATA exit <n>
#                                after READY, when the seed's user-data is a script
#                                (#!...): it ran (its output on the console), with <n>
#   TASHI-GUEST-TICK <n>         once a second from READY on, n = 1, 2, ... never reset:
#                                a pause shows as a gap, a resume as the count going on,
#                                a reboot as a restart from 1
# and on the ACPI power button (QMP system_powerdown) prints
# TASHI-GUEST-POWEROFF and powers off at once.
#
# The result is cached: rebuilt only when this script changes (stamp = sha256
# of this file).  Safe to run concurrently (flock); the image appears atomically.
set -euo pipefail

# >>> import: not part of the build (the stamp leaves these lines out) >>>
MIN_MEMORY_MIB=96   # see "Metadata" above
IMPORT_NAME=""
IMPORT_FLAGS=()
while (($#)); do
    case $1 in
        --import) IMPORT_NAME=${2:?--import needs an image name}; shift 2 ;;
        --public) IMPORT_FLAGS+=(--public); shift ;;
        --) shift; break ;;
        -*) echo "build-guest-image: unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
finish() {   # the image is ready: import it if asked, print its path last
    if [[ -n $IMPORT_NAME ]]; then
        echo "build-guest-image: importing $IMAGE as image $IMPORT_NAME" >&2
        tashi image import "$IMPORT_NAME" "$IMAGE" --min-memory "$MIN_MEMORY_MIB" \
            ${IMPORT_FLAGS[@]+"${IMPORT_FLAGS[@]}"} >&2
    fi
    echo "$IMAGE"
    exit 0
}
# <<< import <<<

OUT_DIR=${1:-${TASHI_CACHE_DIR:-$HOME/.cache/tashi}/guest}
IMAGE="$OUT_DIR/tashi-guest.qcow2"
STAMP="$IMAGE.stamp"
SELF_HASH=$(sed '/^# >>> import/,/^# <<< import/d' "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1)

# Debian kernel flavour.  "cloud-amd64" (LZ4-compressed, fewer drivers) reaches
# TASHI-GUEST-READY about twice as fast under TCG as "amd64" (XZ-compressed).
KERNEL_FLAVOUR=amd64
DISK_MIB=64   # whole disk
FAT_MIB=48    # FAT filesystem; the rest is the guest's scratch area
# Loaded in this order; missing ones are skipped. button+evdev: power button.
# cdrom, isofs: the cloud-init seed (ISO 9660).
MODULES=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
         virtio_mmio failover net_failover virtio_net virtio_blk evdev button cdrom isofs)

log() { echo "build-guest-image: $*" >&2; }

is_cached() { [[ -f $IMAGE && -f $STAMP && $(cat "$STAMP") == "$SELF_HASH" ]]; }

mkdir -p "$OUT_DIR"
if ! is_cached; then
    exec 9>"$OUT_DIR/.lock"
    flock 9
fi
if is_cached; then   # possibly built by a concurrent run while we waited
    finish
fi

# --- build tools (host) -----------------------------------------------------
need=()
for pair in qemu-img:qemu-utils syslinux:syslinux mcopy:mtools mkfs.fat:dosfstools \
            cpio:cpio gzip:gzip xz:xz-utils; do
    command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
[[ -f /usr/lib/syslinux/modules/bios/ldlinux.c32 ]] || need+=(syslinux-common)
SUDO=""
[[ $(id -u) == 0 ]] || SUDO=sudo
if ((${#need[@]})); then
    log "installing ${need[*]}"
    apt_get() { $SUDO apt-get -q -o DPkg::Lock::Timeout=600 "$@"; }
    apt_get install -y --no-install-recommends "${need[@]}" >&2 ||
        { apt_get update >&2 && apt_get install -y --no-install-recommends "${need[@]}" >&2; }
fi

rm -rf "$OUT_DIR"/.build.*   # leftovers of a killed build (we hold the lock)
WORK=$(mktemp -d "$OUT_DIR/.build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

# --- fetch the kernel and busybox packages (never installed on the host) ----
kernel_pkg() { apt-cache depends "linux-image-$KERNEL_FLAVOUR" 2>/dev/null |
               sed -n "s/^ *Depends: \(linux-image-6\.[^ ]*-$KERNEL_FLAVOUR\)\$/\1/p" | head -n1; }
KPKG=$(kernel_pkg)
if [[ -z $KPKG ]]; then $SUDO apt-get -q update >&2; KPKG=$(kernel_pkg); fi
[[ -n $KPKG ]] || { log "cannot resolve the linux-image-$KERNEL_FLAVOUR dependency"; exit 1; }
log "downloading $KPKG busybox-static"
mkdir deb
(cd deb && apt-get -q -o APT::Sandbox::User=root download "$KPKG" busybox-static >&2)

# Extract only the kernel and the modules we want (the full package is ~400 MB).
mkdir kpkg bbpkg
patterns=(./boot/vmlinuz-*)
for m in "${MODULES[@]}"; do patterns+=("./lib/modules/*/$m.ko*"); done
dpkg-deb --fsys-tarfile deb/"$KPKG"_*.deb | tar -x -C kpkg --wildcards "${patterns[@]}"
dpkg-deb -x deb/busybox-static_*.deb bbpkg

# --- initramfs ----------------------------------------------------------------
R=initramfs
mkdir -p $R/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,var/log,etc/acpi/PWRF,lib/modules}
cp bbpkg/bin/busybox $R/bin/busybox
for applet in $(bbpkg/bin/busybox --list-full); do   # e.g. usr/bin/dd, sbin/acpid
    [[ -e $R/$applet ]] || ln -s /bin/busybox "$R/$applet"
done
for m in "${MODULES[@]}"; do   # flat /lib/modules/<name>.ko, decompressed if needed
    f=$(find kpkg/lib/modules -name "$m.ko*" -print -quit)
    case $f in
        "") log "module $m not in $KPKG (skipped)" ;;
        *.ko) cp "$f" "$R/lib/modules/$m.ko" ;;
        *.ko.xz) xz -dc "$f" >"$R/lib/modules/$m.ko" ;;
        *) log "unsupported module compression: $f"; exit 1 ;;
    esac
done

# busybox acpid maps KEY_POWER to "button/power PWRF ..." and, through its
# built-in action table, runs /etc/acpi/PWRF/00000080 (a file is exec'd).
cat >$R/etc/acpi/PWRF/00000080 <<'EOF'
#!/bin/sh
echo TASHI-GUEST-POWEROFF >/dev/console
poweroff -f
EOF

cat >$R/etc/udhcpc.script <<'EOF'
#!/bin/sh
# busybox udhcpc hook: configure $interface from the lease.
case $1 in
    deconfig) ip -4 addr flush dev "$interface"; ip link set "$interface" up ;;
    bound|renew)
        ip -4 addr flush dev "$interface"
        ip addr add "$ip/${mask:-24}" dev "$interface"
        [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
        : >/etc/resolv.conf
        for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done
        echo "$ip" >/run/ip ;;
esac
exit 0
EOF

cat >$R/init <<EOF
#!/bin/sh
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
for m in ${MODULES[*]}; do
    [ -f /lib/modules/\$m.ko ] && insmod /lib/modules/\$m.ko
done
EOF
cat >>$R/init <<'EOF'
ip link set lo up

# 1. write to the free tail of the disk (at 56 MiB, past the 48 MiB FAT)
i=0; while [ ! -b /dev/vda ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
if echo "tashi-guest boot $(date +%s)" |
        dd of=/dev/vda bs=512 seek=$((56*2048)) conv=notrunc,fsync 2>/dev/null; then
    echo TASHI-GUEST-DISK-WRITTEN
fi

# every block device, with its size (sectors of 512 bytes in /sys)
for d in /sys/block/*; do
    n=${d##*/}
    case $n in loop*|ram*) continue ;; esac
    echo "TASHI-GUEST-DISK $n $(( $(cat "$d/size") * 512 ))"
done

# a cloud-init NoCloud seed: the disk labelled cidata (meta-data, user-data)
mkdir -p /run/seed
seed=""   # busybox has no blkid: read the ISO 9660 volume label (offset 32808) itself
for d in /sys/block/*; do
    case $(dd if="/dev/${d##*/}" bs=1 skip=32808 count=7 2>/dev/null) in
        "cidata "|"CIDATA ") seed=/dev/${d##*/}; break ;;
    esac
done
if [ -n "$seed" ] && mount -o ro -t iso9660 "$seed" /run/seed 2>/dev/null; then
    h=$(sed -n 's/^local-hostname:[ ]*//p' /run/seed/meta-data 2>/dev/null | tr -d "\"'\r")
    if [ -n "$h" ]; then hostname "$h"; echo "TASHI-GUEST-HOSTNAME $h"; fi
    if [ "$(head -c 2 /run/seed/user-data 2>/dev/null)" = "#!" ]; then
        cp /run/seed/user-data /run/user-data && chmod 755 /run/user-data
    fi
fi

# 2. DHCP on eth0, bounded (3 tries, 1 s apart); udhcpc stays in the
#    background after a lease to renew it.
ip link set eth0 up 2>/dev/null &&
    udhcpc -i eth0 -t 3 -T 1 -n -s /etc/udhcpc.script >/dev/null 2>&1
echo "TASHI-GUEST-IP $(cat /run/ip 2>/dev/null || echo none)"

# 3. ACPI power button -> /etc/acpi/PWRF/00000080 -> poweroff -f.  acpid has
#    no pid file here: wait until it has opened every /dev/input/event* so
#    that a powerdown sent right after READY is not lost.
acpid -f -l /var/log/acpid.log &
n=$(ls /dev/input | grep -c '^event'); i=0
while [ "$(ls -l /proc/$!/fd | grep -c /dev/input/event)" -lt "$n" ] && [ $i -lt 50 ]; do
    sleep 0.1; i=$((i+1))
done

echo TASHI-GUEST-READY

# 4. can the guest reach its host's loopback through the NAT's gateway? (it must not)
( if nc -w 3 10.0.2.2 8470 -e /bin/true </dev/null >/dev/null 2>&1; then r=open; else r=closed; fi
  echo "TASHI-GUEST-HOSTPORT 8470 $r" ) &
if [ -x /run/user-data ]; then   # as cloud-init's scripts-user does, once booted
    ( /run/user-data; echo "TASHI-GUEST-USERDATA exit $?" ) &
fi
n=0   # PID 1 must never exit: it ticks
while :; do n=$((n+1)); echo "TASHI-GUEST-TICK $n"; sleep 1; done
EOF
chmod 755 $R/init $R/etc/udhcpc.script $R/etc/acpi/PWRF/00000080
(cd $R && find . | LC_ALL=C sort | cpio -o -H newc --owner=0:0 --quiet) | gzip -9n >initrd.img

# --- disk: FAT superfloppy over the first 48 MiB, syslinux, no mounting --------
cat >syslinux.cfg <<'EOF'
SERIAL 0 115200
DEFAULT tashi
PROMPT 0
TIMEOUT 0
NOESCAPE 1
LABEL tashi
  KERNEL vmlinuz
  INITRD initrd.img
  APPEND console=ttyS0 quiet
EOF
cp kpkg/boot/vmlinuz-* vmlinuz
truncate -s "${FAT_MIB}M" disk.raw
mkfs.fat -F 16 -n TASHIGUEST disk.raw >/dev/null
syslinux --install disk.raw
mcopy -i disk.raw vmlinuz initrd.img syslinux.cfg ::/
truncate -s "${DISK_MIB}M" disk.raw   # grow: the free tail for the guest
qemu-img convert -f raw -O qcow2 disk.raw image.qcow2

# --- publish atomically --------------------------------------------------------
rm -f "$STAMP"
mv -f image.qcow2 "$IMAGE"
echo "$SELF_HASH" >"$STAMP.tmp" && mv -f "$STAMP.tmp" "$STAMP"
log "built $IMAGE from $KPKG ($(du -h "$IMAGE" | cut -f1))"
finish
