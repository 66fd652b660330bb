// swift-tools-version:6.0
import PackageDescription

// Less of the release binary is resident (RSS) when the code a daemon runs sits together, because
// the kernel maps code 64 kB around each page touched. Each function of ours gets a section of its
// own, and lld places the ones in scripts/link/gpiobridge.order first (scripts/link/order.sh
// records them). Relative relocations are packed (DT_RELR, glibc 2.36 and later) and no symbol is
// exported: the loader reads 20 kB of relocations at start instead of 1.2 MB of them and 1.8 MB of
// symbol tables.
let releaseLinkFlags = [
    "-use-ld=lld",
    "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs",
    "-Xlinker", "--no-export-dynamic",
    "-Xlinker", "--symbol-ordering-file=\(Context.packageDirectory)/scripts/link/gpiobridge.order",
    "-Xlinker", "--no-warn-symbol-ordering",
]
let package = Package(
    name: "gpiobridge",
    products: [
        .executable(name: "gpiobridge", targets: ["gpiobridge"]),
        .library(name: "MQTT", targets: ["MQTT"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // MQTT 3.1.1 / 5.0 without I/O: the codec (bytes <-> packets) and the session state
        // machines, on NIOCore's ByteBuffer only. Depends on nothing of ours.
        .target(
            name: "MQTTCore",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")]
        ),
        // The connection service: NIO channel, TLS, CONNECT/CONNACK, reconnects. Re-exports MQTTCore.
        .target(
            name: "MQTT",
            dependencies: [
                "MQTTCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // libgpiod, found with pkg-config (v1 on Debian 12, v2 on Raspberry Pi OS trixie).
        .systemLibrary(
            name: "CGPIOD",
            pkgConfig: "libgpiod",
            providers: [.apt(["libgpiod-dev"])]
        ),
        // One C API over both libgpiod APIs, chosen at compile time.
        .target(name: "CGPIOShim", dependencies: ["CGPIOD"]),
        // i2c-dev ioctls and libi2c's SMBus calls (libi2c ships no .pc file).
        .target(name: "CI2C", linkerSettings: [.linkedLibrary("i2c")]),
        // GPIO chips and lines, I2C buses and sensor drivers. Knows nothing of MQTT.
        .target(
            name: "Hardware",
            dependencies: ["CGPIOShim", "CI2C"]
        ),
        // libyaml, the reference C parser: marks every node with its line and column. Found in the
        // default paths, not through pkg-config: SwiftPM would put yaml-0.1's -L/usr/lib/<triple>
        // ahead of the libgpiod a PKG_CONFIG_PATH points at (the v2 test build).
        .systemLibrary(
            name: "CYAML",
            providers: [.apt(["libyaml-dev"])]
        ),
        // glibc's malloc.h, for mallopt: the command-line tool keeps one malloc arena.
        .systemLibrary(name: "CMalloc"),
        // What every gpiobridge device speaks, agent or mirrored board: the topics and words of the
        // scheme, the command vocabulary, the retained info about a device, error reports, and the
        // value types both cores keep time with (the deadline queue, the log limiter). No I/O.
        .target(
            name: "Scheme",
            dependencies: ["JSON", "MQTTCore", .product(name: "NIOCore", package: "swift-nio")]
        ),
        // YAML profiles -> validated Profile values; every error located (file:line:column, key path).
        .target(
            name: "Profile",
            dependencies: ["CYAML", "Hardware", "JSON", "MQTTCore", "Scheme"]
        ),
        // What the agent's and the relay's services share: the retained-state outbox and the
        // deadline timer on the client's event loop, ordered subscriptions, broker settings made
        // into a client configuration.
        .target(
            name: "ServiceSupport",
            dependencies: [
                "MQTT", "Profile", "Scheme",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // A small JSON value type with a parser and a serializer (no Foundation).
        // Rounds numbers with libm, which nothing else may have linked (the JSON fuzzer links only this).
        .target(name: "JSON", linkerSettings: [.linkedLibrary("m")]),
        // The agent: profile -> lines, commands, states, sensors, availability, discovery, safety.
        // AgentCore (the logic, on the caller's clock), AgentLines (the line I/O), and the service
        // that runs them on the MQTT client's event loop.
        .target(
            name: "Agent",
            dependencies: [
                "MQTT", "Hardware", "Profile", "JSON", "Scheme", "ServiceSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The relay: mirrors ESP8266 boards (Tasmota, ESPHome, plain PubSubClient sketches) into the
        // gpiobridge topic scheme. It shares the scheme with the agent, not the agent's internals.
        .target(
            name: "Relay",
            dependencies: [
                "MQTT", "Scheme", "ServiceSupport", "Profile", "JSON",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The command-line tool: thin commands over the modules, with a small parser of its own
        // (swift-argument-parser would pull FoundationEssentials into the static binary).
        .executableTarget(
            name: "gpiobridge",
            dependencies: [
                "CMalloc",
                "MQTT",
                "Hardware",
                "Profile",
                "Agent",
                "Relay",
                "Scheme",
                "ServiceSupport",
                "JSON",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            linkerSettings: [.unsafeFlags(releaseLinkFlags, .when(platforms: [.linux], configuration: .release))]
        ),
        // libFuzzer entry points for the parsers of untrusted input; built only by scripts/fuzz.sh.
        .executableTarget(
            name: "MQTTDecoderFuzz",
            dependencies: ["MQTTCore", .product(name: "NIOCore", package: "swift-nio")],
            path: "Fuzz/MQTTDecoderFuzz"
        ),
        .executableTarget(name: "JSONFuzz", dependencies: ["JSON"], path: "Fuzz/JSONFuzz"),
        .executableTarget(name: "ProfileFuzz", dependencies: ["Profile"], path: "Fuzz/ProfileFuzz"),
        // Prints latency and throughput figures against a broker; run by scripts/bench-mqtt.sh.
        .executableTarget(
            name: "mqtt-bench",
            dependencies: [
                "MQTT",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/MQTTBench"
        ),
        // Prints the agent's figures (round trip, commands per second, RSS, start time, idle CPU); run
        // by scripts/bench-agent.sh.
        .executableTarget(
            name: "agent-bench",
            dependencies: [
                "MQTT", "BenchSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/AgentBench"
        ),
        // Prints the relay's figures with 1,000 emulated Tasmota boards (RSS, CPU, translated command
        // latency beside the boards' bare round trip); run by scripts/bench-relay.sh.
        // Prints the relay core's cost per message, without sockets; run by scripts/bench-relay.sh.
        .executableTarget(
            name: "relay-core-bench",
            dependencies: ["Relay", "Profile"],
            path: "Benchmarks/RelayCoreBench"
        ),
        .executableTarget(
            name: "relay-bench",
            dependencies: [
                "MQTT", "BenchSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/RelayBench"
        ),
        // Process and timing helpers the benchmarks share.
        .target(
            name: "BenchSupport",
            dependencies: ["MQTT"],
            path: "Benchmarks/BenchSupport"
        ),
        .testTarget(
            name: "MQTTTests",
            dependencies: [
                "MQTT", "MQTTCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "AgentCoreTests",
            dependencies: ["Agent", "Hardware", "MQTT", "Profile", "Scheme", .product(name: "NIOEmbedded", package: "swift-nio")]
        ),
        .testTarget(
            name: "HardwareTests",
            dependencies: ["Hardware"]
        ),
        .testTarget(
            name: "JSONTests",
            dependencies: ["JSON"]
        ),
        .testTarget(
            name: "SchemeTests",
            dependencies: ["Scheme"]
        ),
        .testTarget(
            name: "RelayTests",
            dependencies: ["Relay", "Scheme", "Profile", "JSON"]
        ),
        .testTarget(
            name: "ProfileTests",
            dependencies: ["Profile", "Hardware", "MQTT", "Relay"],
            exclude: ["BrokenProfiles"]
        ),
        .testTarget(
            name: "MQTTIntegrationTests",
            dependencies: [
                "MQTT", "MQTTCore", "Agent", "Relay", "Scheme", "ServiceSupport", "Profile", "Hardware", "JSON",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
    ]
)

for target in package.targets where [.regular, .executable].contains(target.type) && !target.name.hasPrefix("C") {
    // The C targets (CGPIOD, CGPIOShim, CI2C, CMalloc, CYAML) take no Swift settings.
    target.swiftSettings = (target.swiftSettings ?? []) + [.unsafeFlags(["-Xfrontend", "-function-sections"], .when(configuration: .release))]
}
