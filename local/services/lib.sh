# shellcheck shell=bash
# Common helpers for the local test servers (sourced by the service scripts).
#
# Environment:
#   ATLAS_SERVICES_DIR  data, logs and pid files (default: <repo>/.atlas-services)
#   ATLAS_CACHE_DIR     downloaded jars and the Maven repository (default: ~/.cache/atlas)
#   ATLAS_JAVA_HOME     a Java 17 to use (default: the java on PATH if it is 17, else Debian's)

ATLAS_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ATLAS_REPO_DIR="$(cd "$ATLAS_LIB_DIR/../.." && pwd)"
ATLAS_SERVICES_DIR="${ATLAS_SERVICES_DIR:-$ATLAS_REPO_DIR/.atlas-services}"
ATLAS_CACHE_DIR="${ATLAS_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/atlas}"
export ATLAS_SERVICES_DIR ATLAS_CACHE_DIR

ATLAS_PG_PORT="${ATLAS_PG_PORT:-55432}"
ATLAS_REDIS_PORT="${ATLAS_REDIS_PORT:-56379}"
ATLAS_KAFKA_PORT="${ATLAS_KAFKA_PORT:-59092}"
ATLAS_KAFKA_CONTROLLER_PORT="${ATLAS_KAFKA_CONTROLLER_PORT:-59093}"
ATLAS_CASSANDRA_PORT="${ATLAS_CASSANDRA_PORT:-59042}"
ATLAS_CASSANDRA_STORAGE_PORT="${ATLAS_CASSANDRA_STORAGE_PORT:-57000}"

ATLAS_T0="${ATLAS_T0:-$(date +%s.%N)}"
export ATLAS_T0

log() {
  printf '[%6ss] %s\n' "$(elapsed "$ATLAS_T0")" "$*" >&2
}

die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# Fractional seconds since the epoch, for timings.
now_s() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now_s)" 'BEGIN { printf "%.1f", b - a }'; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

# Installs Debian packages that are missing. apt-get update runs at most once an hour
# across the scripts (stamp in the cache folder), and again if an install fails.
apt_install() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  log "apt: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  local stamp="$ATLAS_CACHE_DIR/apt-updated" updated=0
  mkdir -p "$ATLAS_CACHE_DIR"
  if [ -z "$(find "$stamp" -mmin -60 2>/dev/null)" ]; then
    as_root apt-get -o DPkg::Lock::Timeout=300 update -qq
    touch "$stamp"
    updated=1
  fi
  if ! as_root apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    [ "$updated" = 1 ] && die "apt: could not install ${missing[*]}"
    as_root apt-get -o DPkg::Lock::Timeout=300 update -qq
    touch "$stamp"
    as_root apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
      die "apt: could not install ${missing[*]}"
  fi
}

need_python() {
  command -v python3 >/dev/null 2>&1 || apt_install python3
}

java_home_major() { sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$1/release" 2>/dev/null; }

# Puts a Java 17 first on PATH: ATLAS_JAVA_HOME, the java on PATH, or Debian's JDK 17.
# Kafka 4 needs 17 or newer; Cassandra 5.0 runs on 11 and 17 only.
pick_java() {
  local cand onpath=""
  command -v java >/dev/null 2>&1 && onpath="$(readlink -f "$(command -v java)")" && onpath="${onpath%/bin/java}"
  for cand in "${ATLAS_JAVA_HOME:-}" "$onpath" /usr/lib/jvm/java-17-openjdk-*; do
    if [ -z "$cand" ] || [ ! -x "$cand/bin/java" ]; then continue; fi
    if [ "$(java_home_major "$cand")" = 17 ]; then
      case ":$PATH:" in
        "$cand/bin:"*) ;;
        *) PATH="$cand/bin:$PATH" ;;
      esac
      export PATH
      return 0
    fi
  done
  return 1
}
pick_java || true

need_java() {
  pick_java && return 0
  apt_install openjdk-17-jre-headless
  pick_java || die "Java 17 not found (set ATLAS_JAVA_HOME)"
}

# Names the JVM build without starting it: its home folder and libjvm.so size and time.
java_build_id() {
  local home
  home="$(readlink -f "$(command -v java)")"
  home="${home%/bin/java}"
  printf '%s-%s' "$(printf '%s' "$home" | cksum | cut -d' ' -f1)" \
    "$(stat -c '%s-%Y' "$home/lib/server/libjvm.so" 2>/dev/null || echo 0)"
}

# Class-data sharing for a JVM server: the first run writes an archive of the loaded
# classes when it exits, later runs map it and start about 2 s faster. The archive
# belongs to one lib folder and one JVM build. ATLAS_JAVA_CDS=0 turns it off.
# usage: cds_opts LIB_DIR  (sets CDS_OPTS)
# shellcheck disable=SC2034
cds_opts() {
  CDS_OPTS=()
  [ "${ATLAS_JAVA_CDS:-1}" = 1 ] || return 0
  local archive
  archive="$1.jvm-$(java_build_id).jsa"
  # The diagnostic flag lets a server with a Java agent (Cassandra's jamm) write and
  # use an archive; it must be the same when writing and when using it.
  CDS_OPTS=(-XX:+UnlockDiagnosticVMOptions -XX:+AllowArchivingWithJavaAgent)
  if [ -s "$archive" ]; then
    CDS_OPTS+=("-XX:SharedArchiveFile=$archive")
  else
    CDS_OPTS+=("-XX:ArchiveClassesAtExit=$archive.tmp$$")
  fi
}

# For short tool runs: map the archive when there is one, never write one.
# shellcheck disable=SC2034
cds_use_opts() {
  CDS_OPTS=()
  local archive
  archive="$1.jvm-$(java_build_id).jsa"
  if [ "${ATLAS_JAVA_CDS:-1}" = 1 ] && [ -s "$archive" ]; then
    CDS_OPTS=(-XX:+UnlockDiagnosticVMOptions -XX:+AllowArchivingWithJavaAgent "-XX:SharedArchiveFile=$archive")
  fi
}

# After a server stopped: keep an archive it wrote at exit.
cds_finish() {
  local f
  for f in "$1".jvm-*.jsa.tmp*; do
    [ -e "$f" ] || continue
    if [ -s "$f" ]; then mv -f "$f" "${f%.tmp*}"; else rm -f "$f"; fi
  done
}

need_maven() {
  command -v mvn >/dev/null 2>&1 || apt_install maven
}

# Resolves Maven artifacts with their dependencies into a cached lib folder.
# usage: maven_fetch DEST_DIR POM_DEPENDENCIES_XML
maven_fetch() {
  local dest="$1" deps="$2"
  [ -f "$dest/.complete" ] && return 0
  need_java
  need_maven
  local work
  work="$dest.tmp.$$"
  rm -rf "$work"
  mkdir -p "$work"
  cat >"$work/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>atlas.local</groupId>
  <artifactId>services</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
$deps
  </dependencies>
</project>
EOF
  log "maven: resolving into $dest"
  if ! (cd "$work" && mvn -B -q -Dmaven.repo.local="$ATLAS_CACHE_DIR/m2" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$work/lib" \
    </dev/null >"$work/mvn.log" 2>&1); then
    cat "$work/mvn.log" >&2
    rm -rf "$work"
    die "maven could not resolve the dependencies for $dest"
  fi
  rm -rf "$dest"
  mv "$work/lib" "$dest"
  cp "$work/pom.xml" "$dest/.pom.xml"
  rm -rf "$work"
  touch "$dest/.complete"
}

# True when the pid file names a live process whose command line contains MARKER.
pid_alive() {
  local pidfile="$1" marker="$2" pid
  [ -f "$pidfile" ] || return 1
  pid="$(head -n1 "$pidfile" 2>/dev/null | tr -dc '0-9')"
  [ -n "$pid" ] || return 1
  proc_alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$marker"
}

pid_of() { head -n1 "$1" 2>/dev/null | tr -dc '0-9'; }

# A live process that is not a zombie (an exited daemon may wait a while to be reaped).
proc_alive() {
  kill -0 "$1" 2>/dev/null || return 1
  [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

# SIGTERM, wait up to TIMEOUT seconds, then SIGKILL.
stop_pid() {
  local pid="$1" name="$2" timeout="${3:-30}" i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < timeout * 10; i++)); do
    proc_alive "$pid" || return 0
    sleep 0.1
  done
  log "$name: still running after ${timeout}s, sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    proc_alive "$pid" || return 0
    sleep 0.1
  done
}

port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Fails with a clear message when another process already listens on PORT.
ensure_port_free() {
  local port="$1" name="$2"
  if port_open "$port"; then
    local who=""
    command -v ss >/dev/null 2>&1 && who="$(ss -Hltnp "sport = :$port" 2>/dev/null | head -n1)"
    die "$name: port $port is already in use by another process ${who:+($who)}; set the port variable or stop it"
  fi
}

# Waits until COMMAND succeeds; fails after TIMEOUT seconds or when PID dies.
# usage: wait_until NAME TIMEOUT PID LOGFILE COMMAND...
wait_until() {
  local name="$1" timeout="$2" pid="$3" logfile="$4"
  shift 4
  local start
  start="$(now_s)"
  while true; do
    if "$@" >/dev/null 2>&1; then
      return 0
    fi
    if [ -n "$pid" ] && ! proc_alive "$pid"; then
      log "$name: process $pid exited; last lines of $logfile:"
      tail -n 40 "$logfile" >&2 2>/dev/null || true
      return 1
    fi
    if [ "$(awk -v a="$start" -v b="$(now_s)" -v t="$timeout" 'BEGIN { print (b - a > t) ? 1 : 0 }')" = 1 ]; then
      log "$name: not ready after ${timeout}s; last lines of $logfile:"
      tail -n 40 "$logfile" >&2 2>/dev/null || true
      return 1
    fi
    sleep 0.25
  done
}

rss_mb() {
  local pid="$1"
  awk '/^VmRSS:/ { printf "%d", $2 / 1024 }' "/proc/$pid/status" 2>/dev/null || echo "?"
}

# Starts a command in DIR, detached from this shell in its own session, logging to LOGFILE.
# usage: spawn DIR PIDFILE LOGFILE COMMAND...
spawn() {
  local dir="$1" pidfile="$2" logfile="$3"
  shift 3
  (cd "$dir" && exec setsid "$@" </dev/null >>"$logfile" 2>&1) &
  echo "$!" >"$pidfile"
}

print_status() {
  local name="$1" pidfile="$2" marker="$3" port="$4"
  if pid_alive "$pidfile" "$marker"; then
    local pid
    pid="$(pid_of "$pidfile")"
    printf '%-10s running  pid=%-8s port=%-6s rss=%sMB\n' "$name" "$pid" "$port" "$(rss_mb "$pid")"
    return 0
  fi
  printf '%-10s stopped  port=%s\n' "$name" "$port"
  return 3
}

services_init() {
  mkdir -p "$ATLAS_SERVICES_DIR" "$ATLAS_CACHE_DIR"
  [ -f "$ATLAS_SERVICES_DIR/.gitignore" ] || echo '*' >"$ATLAS_SERVICES_DIR/.gitignore"
}
