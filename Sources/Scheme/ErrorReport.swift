import JSON

/// What a device says on its error topic (`<base>/error`, not retained): a refused command with
/// its topic, the start of its payload and its size, or a failure of one of its parts (`source`:
/// a sensor, an output, the relay's discovery). Agents and the relay write the same JSON.
public struct ErrorReport: Sendable, Equatable {
    public var source: String?
    public var topic: String?
    /// The payload's first bytes: a 1 MB command must not become a 1 MB error message.
    public var payload: String?
    public var payloadBytes: Int?
    public var error: String

    /// A part of the device failed.
    public init(source: String, error: String) {
        self.source = source
        self.error = error
    }

    /// A command was refused; `payload` is the whole payload (only its start is repeated).
    public init(topic: String, payload: String?, error: String) {
        self.topic = topic
        self.error = error
        if let payload {
            self.payload = leadingBytes(of: payload)
            self.payloadBytes = payload.utf8.count
        }
    }

    /// `{"source":…,"topic":…,"payload":…,"error":…,"payload_bytes":…}`, with the members it has.
    public var json: String {
        var members: [JSONMember] = []
        if let source { members.append(JSONMember(key: "source", value: .string(source))) }
        if let topic { members.append(JSONMember(key: "topic", value: .string(topic))) }
        if let payload { members.append(JSONMember(key: "payload", value: .string(payload))) }
        members.append(JSONMember(key: "error", value: .string(error)))
        if let payloadBytes { members.append(JSONMember(key: "payload_bytes", value: .number(Double(payloadBytes)))) }
        return JSONValue.object(members).serialized
    }
}
