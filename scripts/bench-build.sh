# Sourced by the benchmarks: build_release PRODUCT... builds static release products quietly, and
# shows the compiler's output when a build fails.
build_release() {
    local product log
    log=$(mktemp)
    for product in "$@"; do
        if ! swift build -c release --static-swift-stdlib --product "$product" >"$log" 2>&1; then
            grep -vE '^\[[0-9]+/[0-9]+\]' "$log" | tail -n 60
            rm -f "$log"
            echo "bench: building $product failed" >&2
            exit 1
        fi
    done
    rm -f "$log"
}
