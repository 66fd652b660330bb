import Profile
import Relay

// Prints what the relay's core costs per message, without sockets or a broker: a translated
// command (gpiobridge/<b>/light/set -> cmnd/<t>/POWER1) and the board's answer
// (stat/<t>/RESULT -> gpiobridge/<b>/light), with 1,000 Tasmota boards on the fleet's broker, as
// scripts/bench-relay.sh runs them. Run by scripts/bench-relay.sh beside the round trips.
//
// usage: relay-core-bench [ROUNDS]

let rounds = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 200_000 : 200_000
let names = (0..<1000).map { "b\(String(1_000_000 + $0).suffix(4))" }
var yaml = "relay: {id: bench-relay}\nfleet: {host: 127.0.0.1}\nboards:\n"
for name in names {
    yaml += "  - {name: \(name), tasmota: {topic: tasmota_\(name), relays: {light: 1}, sensors: {temperature: SI7021.Temperature}}}\n"
}
let profile = try ProfileLoader.decodeRelay(yaml, file: "relay.yml")
let clock = ContinuousClock()
var core = RelayCore(profile: profile, at: clock.now, unixNow: 0, boardsShareFleetBroker: true)
_ = core.start()
_ = core.fleetConnected(at: clock.now)
_ = core.boardsBroker(up: true, at: clock.now)
for name in names { _ = core.boardMessage(topic: "tele/tasmota_\(name)/LWT", payload: "Online", at: clock.now) }

var commands: Duration = .zero
var answers: Duration = .zero
var actions = 0
for round in 0..<rounds {
    let name = names[round % names.count]
    let word = (round / names.count) % 2 == 0 ? "ON" : "OFF"
    let commandTopic = "gpiobridge/\(name)/light/set"
    let resultTopic = "stat/tasmota_\(name)/RESULT"
    let result = "{\"POWER\":\"\(word)\"}"
    var start = clock.now
    // On one broker, every message is offered to both sides, as the relay's runner does.
    actions += core.boardMessage(topic: commandTopic, payload: word, at: start).count
    actions += core.fleetMessage(topic: commandTopic, payload: word, qos: .atMostOnce, retained: false, at: start).count
    var end = clock.now
    commands += end - start
    start = end
    actions += core.boardMessage(topic: resultTopic, payload: result, at: start).count
    actions += core.fleetMessage(topic: resultTopic, payload: result, qos: .atMostOnce, retained: false, at: start).count
    end = clock.now
    answers += end - start
}
func perMessage(_ total: Duration) -> String {
    let nanoseconds = Double(total.components.seconds) * 1e9 + Double(total.components.attoseconds) / 1e9
    return String(Int((nanoseconds / Double(rounds)).rounded()))
}
print("relay core: command_ns \(perMessage(commands)) answer_ns \(perMessage(answers)) rounds \(rounds) actions \(actions)")
