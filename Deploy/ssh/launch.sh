#!/usr/bin/env bash
# Starts, stops and checks magfleet workers on a list of hosts over plain SSH.
#
#   Deploy/ssh/launch.sh start  HOSTS --connect tcp://coord:5555 --model /srv/m.pth [options] [-- ARGS]
#   Deploy/ssh/launch.sh status HOSTS [--log-dir DIR]
#   Deploy/ssh/launch.sh stop   HOSTS [--log-dir DIR]
#   Deploy/ssh/launch.sh doctor HOSTS [--bin PATH]
#
# HOSTS is a file, one host per line: `[user@]host [workers [threads-per-worker]]`; blank lines
# and # comments are ignored. Each worker gets its own thread count (and OpenBLAS's) so that
# workers sharing a host do not oversubscribe its cores. Options for start:
#   --connect URL        the coordinator's endpoint (required)
#   --model PATH         the checkpoint, at the same path on every host (required)
#   --root DIR           the host's mount of the shared image storage
#   --curve-key FILE     the worker key on each host; --server-key FILE the coordinator's .pub
#   --bin PATH           magfleet on the hosts (default: magfleet on PATH)
#   --log-dir DIR        where each worker logs on its host (default: /tmp/magfleet)
#   -- ARGS              passed to every `magfleet worker` as they are (e.g. -- --prefetch 4)
# Each worker writes DIR/HOST-worker-N.log and DIR/HOST-worker-N.pid on its host; status and
# stop act only on the workers named by those pid files (give them the same --log-dir), never
# on other magfleet processes of the host.
# Extra SSH options come from MAGFLEET_SSH_OPTS (e.g. "-i key -o StrictHostKeyChecking=no").
set -euo pipefail

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[[ $# -ge 2 ]] || usage
action=$1 hosts_file=$2
shift 2
[[ -f $hosts_file ]] || { echo "launch: no hosts file $hosts_file" >&2; exit 2; }

extra=()
connect="" model="" root="" curve_key="" server_key="" bin=magfleet log_dir=/tmp/magfleet
while [[ $# -gt 0 ]]; do
  case $1 in
    --connect) connect=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --root) root=$2; shift 2 ;;
    --curve-key) curve_key=$2; shift 2 ;;
    --server-key) server_key=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --log-dir) log_dir=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "launch: unknown option $1" >&2; usage ;;
  esac
done

read -r -a ssh_opts <<<"${MAGFLEET_SSH_OPTS:-}"
ssh_opts+=(-o BatchMode=yes -o ConnectTimeout=10)

# run HOST COMMAND: one remote shell command, its output prefixed with the host.
run() {
  local host=$1 cmd=$2
  # shellcheck disable=SC2029 # the command is built (and quoted) here on purpose
  ssh "${ssh_opts[@]}" "$host" "$cmd" </dev/null 2>&1 | sed "s|^|$host: |"
  return "${PIPESTATUS[0]}"
}

failures=0
q_log_dir=$(printf '%q' "$log_dir")
while read -r host workers threads _; do
  [[ -z ${host:-} || $host == \#* ]] && continue
  workers=${workers:-1}
  threads=${threads:-1}
  # This host's files: DIR/HOST-worker-N.{log,pid}, HOST made safe as a file name.
  prefix="$q_log_dir/${host//[^A-Za-z0-9._-]/_}-worker"
  case $action in
    start)
      [[ -n $connect && -n $model ]] || { echo "launch: start needs --connect and --model" >&2; exit 2; }
      args=(worker --connect "$connect" --model "$model" --threads "$threads")
      [[ -n $root ]] && args+=(--root "$root")
      [[ -n $curve_key ]] && args+=(--curve-key "$curve_key")
      [[ -n $server_key ]] && args+=(--server-key "$server_key")
      args+=("${extra[@]}")
      q_bin=$(printf '%q' "$bin")
      quoted=$(printf '%q ' "$bin" "${args[@]}")
      for ((i = 1; i <= workers; i++)); do
        # Only the worker goes to the background, its output to its log: a backgrounded
        # `a && b` list would keep the SSH session (and this loop) open while it runs.
        cmd="command -v $q_bin >/dev/null || { echo no magfleet at $q_bin; exit 127; }"
        cmd+="; mkdir -p $q_log_dir || exit 1; OPENBLAS_NUM_THREADS=$threads nohup setsid $quoted"
        cmd+=" >$prefix-$i.log 2>&1 </dev/null & echo \$! >$prefix-$i.pid && echo started worker $i pid \$!"
        run "$host" "$cmd" || failures=$((failures + 1))
      done
      ;;
    stop | status)
      # Only the processes named by this launcher's pid files, and only while they still run
      # magfleet worker (a pid may have been reused). SIGTERM: each worker finishes its shard
      # or hands it back.
      signal=""
      [[ $action == stop ]] && signal="kill -TERM \$pid && echo stopping worker \$n pid \$pid"
      cmd="found=0; for f in $prefix-*.pid; do [ -f \"\$f\" ] || continue; pid=\$(cat \"\$f\");"
      cmd+=" n=\${f##*-worker-}; n=\${n%.pid};"
      cmd+=" if ps -o args= -p \"\$pid\" 2>/dev/null | grep -q 'magfleet worker '; then found=1;"
      cmd+=" echo \"worker \$n pid \$pid running\"; ${signal:-:}; else echo \"worker \$n exited\"; fi; done;"
      cmd+=" [ \$found = 1 ] || echo 'no workers running'"
      run "$host" "$cmd" || failures=$((failures + 1))
      ;;
    doctor)
      run "$host" "$(printf '%q' "$bin") doctor" || failures=$((failures + 1))
      ;;
    *) usage ;;
  esac
done <"$hosts_file"

if ((failures > 0)); then
  echo "launch: $failures host command(s) failed" >&2
  exit 1
fi
