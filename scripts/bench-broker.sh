# Sourced by the benchmarks: starts one Mosquitto on a free 127.0.0.1 port for the run, tuned to
# measure (no queue or in-flight limits, Nagle off), and stops it on exit. Sets $work (a
# temporary folder), $port and $broker_pid; errors are logged to $work/mosquitto.log.
work=$(mktemp -d)
broker_pid=""
cleanup() { [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
set_tcp_nodelay true
max_queued_messages 0
max_inflight_messages 0
log_type error
log_dest file $work/mosquitto.log
CONF
chmod 755 "$work"; touch "$work/mosquitto.log"; chmod 666 "$work/mosquitto.log"
mosquitto -c "$work/mosquitto.conf" & broker_pid=$!
for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.02; done
