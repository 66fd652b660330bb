/// The MQTT protocol level a connection speaks.
public enum MQTTVersion: UInt8, Sendable, Hashable, CustomStringConvertible {
    // swift-format-ignore: AlwaysUseLowerCamelCase
    // The version's own spelling: v311 would read as version three hundred and eleven.
    /// MQTT 3.1.1 (protocol level 4).
    case v3_1_1 = 4
    /// MQTT 5.0 (protocol level 5).
    case v5 = 5

    public var description: String {
        switch self {
        case .v3_1_1: "3.1.1"
        case .v5: "5.0"
        }
    }
}

/// Delivery guarantee of a message.
public enum QoS: UInt8, Sendable, Hashable, Comparable, CustomStringConvertible {
    case atMostOnce = 0
    case atLeastOnce = 1
    case exactlyOnce = 2

    public static func < (lhs: QoS, rhs: QoS) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { String(rawValue) }
}

/// The fourteen (3.1.1) or fifteen (5.0) control packet types, by their fixed-header code.
public enum MQTTPacketType: UInt8, Sendable, Hashable, CustomStringConvertible {
    case connect = 1
    case connack = 2
    case publish = 3
    case puback = 4
    case pubrec = 5
    case pubrel = 6
    case pubcomp = 7
    case subscribe = 8
    case suback = 9
    case unsubscribe = 10
    case unsuback = 11
    case pingreq = 12
    case pingresp = 13
    case disconnect = 14
    case auth = 15

    public var description: String {
        switch self {
        case .connect: "CONNECT"
        case .connack: "CONNACK"
        case .publish: "PUBLISH"
        case .puback: "PUBACK"
        case .pubrec: "PUBREC"
        case .pubrel: "PUBREL"
        case .pubcomp: "PUBCOMP"
        case .subscribe: "SUBSCRIBE"
        case .suback: "SUBACK"
        case .unsubscribe: "UNSUBSCRIBE"
        case .unsuback: "UNSUBACK"
        case .pingreq: "PINGREQ"
        case .pingresp: "PINGRESP"
        case .disconnect: "DISCONNECT"
        case .auth: "AUTH"
        }
    }

    /// Flag bits the fixed header must carry for every type but PUBLISH [MQTT-2.1.3-1].
    var requiredFlags: UInt8 {
        switch self {
        case .pubrel, .subscribe, .unsubscribe: 0b0010
        default: 0
        }
    }
}

/// Limits fixed by the specification.
public enum MQTTLimits {
    /// Largest value a Variable Byte Integer can carry (four bytes).
    public static let maximumVariableByteInteger = 268_435_455
    /// Largest UTF-8 string or binary field (two-byte length prefix).
    public static let maximumStringLength = 65_535
}
