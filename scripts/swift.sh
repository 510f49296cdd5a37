#!/usr/bin/env bash
# Swift 6.0.3 (Debian trixie's swiftlang) in a debootstrap chroot under
# .cache/swift, installed once (~3 min, 2.6 GB; needs root), then used through
# unshare so its mounts vanish with the process. The repository is bound at
# its own path (the tests read contracts/fixtures), the command runs in clients/swift.
#   scripts/swift.sh install          install only
#   scripts/swift.sh swift test ...   any command, run in clients/swift
# SWIFT_BIND=/some/dir also binds that folder at the same path (e2e queues).
# Everything execs, so the PID that started this is the command's PID.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$root/.cache"
R="$(realpath "$root/.cache")/swift/root"
pkg="$root/clients/swift"
stamp="$R/.swiftlang-6.0.3-ready"

inside() { # run "$@" in the chroot, in $pkg
  exec unshare --mount --propagation private /bin/sh -euc '
    R=$1 root=$2 pkg=$3 bind=$4; shift 4
    mount -t proc proc "$R/proc"; mount --rbind /dev "$R/dev"; mount -t tmpfs tmpfs "$R/tmp"
    for d in "$root" $bind; do mkdir -p "$R$d"; mount --bind "$d" "$R$d"; done
    exec chroot "$R" /usr/bin/env -i PATH=/usr/bin:/bin:/usr/sbin:/sbin HOME=/root LANG=C.UTF-8 \
      no_proxy=127.0.0.1,localhost DEBIAN_FRONTEND=noninteractive /bin/sh -c "cd \"\$0\" && exec \"\$@\"" "$pkg" "$@"
  ' sh "$R" "$root" "$pkg" "${SWIFT_BIND:-}" "$@"
}

install() {
  [[ -f $stamp && -x $R/usr/libexec/swift/bin/swift-frontend ]] && return 0
  echo "swift: installing Swift 6.0.3 (trixie swiftlang) into $R (~3 min)" >&2
  command -v debootstrap >/dev/null || apt-get install -y -q debootstrap zstd >&2
  if [[ ! -x $R/usr/bin/apt-get || -d $R/debootstrap ]]; then # none, or unfinished
    if grep -q " $R/" /proc/mounts; then echo "swift: mounts left under $R" >&2; exit 1; fi
    rm -rf "$R" && mkdir -p "$R"
    unshare --mount --propagation private debootstrap --variant=minbase trixie "$R" http://deb.debian.org/debian >&2
  fi
  cp /etc/hosts /etc/resolv.conf "$R/etc/"
  (inside sh -c 'apt-get update -q && apt-get install -y -q --no-install-recommends swiftlang libc6-dev zlib1g-dev && apt-get clean') >&2
  touch "$stamp"
}

case "${1:-}" in
  install) install ;;
  "") echo "usage: $0 install | COMMAND ARGS... (run in clients/swift inside the chroot)" >&2; exit 2 ;;
  *) install; inside "$@" ;;
esac
