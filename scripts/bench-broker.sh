# Sourced by the benchmarks: starts two Mosquittos on free 127.0.0.1 ports for the run, and stops
# them on exit, so that every figure is printed for both in the same run:
#   stock  ($port):        Mosquitto's defaults, as users run it (Nagle on: set_tcp_nodelay false;
#                          1,000 queued messages per client)
#   tuned  ($tuned_port):  set_tcp_nodelay true, no queue or in-flight limits
# Also builds the bare reference, Benchmarks/BareEcho (a libmosquitto client that echoes each
# command on a state topic), as $bare_echo. Sets $work (a temporary folder); each broker logs its
# errors to $work/mosquitto-<name>.log.
work=$(mktemp -d)
broker_pids=()
cleanup() { for pid in "${broker_pids[@]}"; do kill "$pid" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
chmod 755 "$work"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_broker() { # name port [option lines...]
    local name=$1 port=$2
    shift 2
    {
        echo "listener $port 127.0.0.1"
        echo "allow_anonymous true"
        printf '%s\n' "$@"
        echo "log_type error"
        echo "log_dest file $work/mosquitto-$name.log"
    } >"$work/mosquitto-$name.conf"
    touch "$work/mosquitto-$name.log"; chmod 666 "$work/mosquitto-$name.log"
    mosquitto -c "$work/mosquitto-$name.conf" & broker_pids+=($!)
    for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && return; sleep 0.02; done
    echo "bench: mosquitto ($name) did not listen on $port" >&2
    exit 1
}

port=$(free_port)
tuned_port=$(free_port)
start_broker stock "$port"
start_broker tuned "$tuned_port" "set_tcp_nodelay true" "max_queued_messages 0" "max_inflight_messages 0"
mosquitto_version=$(mosquitto -h 2>/dev/null | head -1 | awk '{print $3}' || true)

bare_echo=.build/bare-echo
gcc -O2 -Wall -o "$bare_echo" Benchmarks/BareEcho/bare_echo.c -lmosquitto \
    || { echo "bench: cannot build Benchmarks/BareEcho (libmosquitto-dev installed? scripts/setup.sh installs it)" >&2; exit 1; }
