# Shared by install-node.sh and install-hq.sh (sourced, not run).
#
# Three modes, so the same script is used on a Pi, by packagers and in CI:
#   (default)      install on this machine: apt packages, users, files, systemd unit, enable
#   --destdir DIR  write every file under DIR instead of /; no apt, users, ownership or systemctl
#                  (packaging, CI: the produced tree is what would land on the machine)
#   --dry-run      print every command that would change the machine, change nothing
# Messages are translated through the project's catalog (Vietnamese unless LANG asks for English).

PREFIX="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"   # the LoaXa checkout (e.g. /opt/loaxa)
DESTDIR=""
DRY_RUN=0
NO_APT=0
NO_ENABLE=0
SKIP_VENV=0

say() { python3 "$PREFIX/scripts/install_msg.py" "$@"; }
step() { printf '==> %s\n' "$(say "$@")"; }
warn() { printf '!!  %s\n' "$(say "$@")" >&2; }
die() { printf '!!  %s\n' "$(say "$@")" >&2; exit 1; }

# run CMD...: execute, or print it in --dry-run mode
run() {
  if ((DRY_RUN)); then printf '+ %s\n' "$*"; else "$@"; fi
}

# system-wide changes (apt, users, groups, systemctl, udevadm) are skipped under --destdir
system_run() {
  if [ -n "$DESTDIR" ]; then printf '(destdir) %s\n' "$*"; else run "$@"; fi
}

require_root() {
  if [ -z "$DESTDIR" ] && ((DRY_RUN == 0)) && [ "$(id -u)" -ne 0 ]; then
    die "Run as root (sudo), or use --dry-run / --destdir."
  fi
}

apt_install() {
  ((NO_APT)) && return 0
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  step "Installing Debian packages: {packages}" "packages=${missing[*]}"
  system_run apt-get update -q
  system_run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

ensure_group() {
  local group=$1
  getent group "$group" >/dev/null && return 0
  step "Creating the group {group}" "group=$group"
  system_run groupadd --system "$group"
}

# ensure_user NAME HOME [SUPPLEMENTARY_GROUP...]: a system user with no login shell and no password
ensure_user() {
  local user=$1 home=$2; shift 2
  if ! getent passwd "$user" >/dev/null; then
    step "Creating the service user {user}" "user=$user"
    system_run useradd --system --user-group --home-dir "$home" --no-create-home --shell /usr/sbin/nologin "$user"
  fi
  local group
  for group in "$@"; do
    system_run usermod -a -G "$group" "$user"
  done
}

# install_dir PATH MODE OWNER GROUP
install_dir() {
  if [ -n "$DESTDIR" ]; then run install -d -m "$2" "$DESTDIR$1"; else run install -d -m "$2" -o "$3" -g "$4" "$1"; fi
}

# install_file SRC DST MODE OWNER GROUP: an existing, different DST is kept as DST.bak-DATE
install_file() {
  local src=$1 dst="$DESTDIR$2"
  if [ -f "$dst" ] && ! cmp -s "$src" "$dst"; then
    local bak; bak="$dst.bak-$(date +%Y%m%d-%H%M%S)"
    warn "{path} exists and differs: kept as {backup}" "path=$2" "backup=$bak"
    run cp -p "$dst" "$bak"
  fi
  if [ -n "$DESTDIR" ]; then run install -m "$3" "$src" "$dst"; else run install -m "$3" -o "$4" -g "$5" "$src" "$dst"; fi
}

# render_unit NAME: systemd/NAME with /opt/loaxa replaced by this checkout, into /etc/systemd/system
render_unit() {
  local name=$1 tmp
  tmp="$(mktemp)"
  sed "s#/opt/loaxa#$PREFIX#g" "$PREFIX/systemd/$name" > "$tmp"
  install_dir /etc/systemd/system 0755 root root
  install_file "$tmp" "/etc/systemd/system/$name" 0644 root root
  rm -f "$tmp"
  if command -v systemd-analyze >/dev/null && ((DRY_RUN == 0)); then
    local out
    if ! out="$(systemd-analyze verify "$DESTDIR/etc/systemd/system/$name" 2>&1)" || [ -n "$out" ]; then
      printf '%s\n' "$out" >&2
      die "systemd-analyze verify found problems in {unit}" "unit=$name"
    fi
  fi
}

# make_venv EXTRA: $PREFIX/.venv with loaxa[EXTRA] (only what this machine needs)
make_venv() {
  local extra=$1
  if ((SKIP_VENV)); then
    [ -x "$PREFIX/.venv/bin/python" ] || die "--skip-venv, but {venv} does not exist" "venv=$PREFIX/.venv"
    return 0
  fi
  step "Python environment {venv} with loaxa[{extra}]" "venv=$PREFIX/.venv" "extra=$extra"
  [ -x "$PREFIX/.venv/bin/python" ] || run python3 -m venv "$PREFIX/.venv"
  run "$PREFIX/.venv/bin/python" -m pip install -q --upgrade pip
  run "$PREFIX/.venv/bin/python" -m pip install -q "$PREFIX[$extra]"
}

# the service user must be able to reach the checkout (a clone under /root is not reachable)
check_reachable() {
  local user=$1 bin=$2
  [ -n "$DESTDIR" ] && return 0
  ((DRY_RUN)) && return 0
  if ! runuser -u "$user" -- test -x "$bin"; then
    die "The user {user} cannot run {bin}: put the checkout where every user can read it (e.g. /opt/loaxa)" \
      "user=$user" "bin=$bin"
  fi
}

enable_service() {
  local unit=$1
  system_run systemctl daemon-reload
  if ((NO_ENABLE)); then
    step "Service installed, not started (--no-enable): systemctl enable --now {unit}" "unit=$unit"
  else
    step "Enabling and starting {unit}" "unit=$unit"
    system_run systemctl enable --now "$unit"
  fi
}

# parse_common OPTION [VALUE]: sets SHIFT to the number of arguments used (0: not a common option)
parse_common() {
  SHIFT=0
  case "$1" in
    --destdir) [ $# -ge 2 ] || die "{option} needs a value" "option=$1"; DESTDIR="$(realpath -m "$2")"; SHIFT=2 ;;
    --dry-run) DRY_RUN=1; SHIFT=1 ;;
    --no-apt) NO_APT=1; SHIFT=1 ;;
    --no-enable) NO_ENABLE=1; SHIFT=1 ;;
    --skip-venv) SKIP_VENV=1; SHIFT=1 ;;
  esac
}
