/// Why bytes from the peer could not be decoded into a packet.
///
/// Each case maps to the reason code a client sends in its DISCONNECT before closing.
public struct MQTTDecodeError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What class of violation this is; it decides the DISCONNECT reason code.
    public enum Kind: Sendable, Hashable {
        /// The bytes do not follow the packet grammar [MQTT-1.5, 2.1, 3.x].
        case malformed
        /// The bytes parse but break a protocol rule (duplicate property, bad state).
        case protocolError
        /// The packet is larger than the Maximum Packet Size we announced.
        case packetTooLarge
        /// A Topic Alias of 0 or above the maximum we announced.
        case topicAliasInvalid
    }

    public var kind: Kind
    /// A short account of what was wrong, for logs.
    public var detail: String

    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    static func malformed(_ detail: String) -> MQTTDecodeError { .init(.malformed, detail) }
    static func protocolError(_ detail: String) -> MQTTDecodeError { .init(.protocolError, detail) }

    /// The reason code to put in the DISCONNECT that answers this error.
    public var reasonCode: ReasonCode {
        switch kind {
        case .malformed: .malformedPacket
        case .protocolError: .protocolError
        case .packetTooLarge: .packetTooLarge
        case .topicAliasInvalid: .topicAliasInvalid
        }
    }

    public var description: String { "\(reasonCode): \(detail)" }
}

/// Why a packet could not be encoded; raised before any byte is written.
public struct MQTTEncodeError: Error, Hashable, Sendable, CustomStringConvertible {
    public var detail: String
    public init(_ detail: String) { self.detail = detail }
    public var description: String { detail }
}
