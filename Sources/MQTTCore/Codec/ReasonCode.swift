/// An MQTT 5.0 reason code, or a 3.1.1 return code translated to its 5.0 equivalent.
///
/// Values below 0x80 report success; 0x80 and above report failure [MQTT-2.4].
public struct ReasonCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let success = ReasonCode(rawValue: 0x00)
    public static let grantedQoS1 = ReasonCode(rawValue: 0x01)
    public static let grantedQoS2 = ReasonCode(rawValue: 0x02)
    public static let disconnectWithWillMessage = ReasonCode(rawValue: 0x04)
    public static let noMatchingSubscribers = ReasonCode(rawValue: 0x10)
    public static let noSubscriptionExisted = ReasonCode(rawValue: 0x11)
    public static let continueAuthentication = ReasonCode(rawValue: 0x18)
    public static let reAuthenticate = ReasonCode(rawValue: 0x19)
    public static let unspecifiedError = ReasonCode(rawValue: 0x80)
    public static let malformedPacket = ReasonCode(rawValue: 0x81)
    public static let protocolError = ReasonCode(rawValue: 0x82)
    public static let implementationSpecificError = ReasonCode(rawValue: 0x83)
    public static let unsupportedProtocolVersion = ReasonCode(rawValue: 0x84)
    public static let clientIdentifierNotValid = ReasonCode(rawValue: 0x85)
    public static let badUserNameOrPassword = ReasonCode(rawValue: 0x86)
    public static let notAuthorized = ReasonCode(rawValue: 0x87)
    public static let serverUnavailable = ReasonCode(rawValue: 0x88)
    public static let serverBusy = ReasonCode(rawValue: 0x89)
    public static let banned = ReasonCode(rawValue: 0x8A)
    public static let serverShuttingDown = ReasonCode(rawValue: 0x8B)
    public static let badAuthenticationMethod = ReasonCode(rawValue: 0x8C)
    public static let keepAliveTimeout = ReasonCode(rawValue: 0x8D)
    public static let sessionTakenOver = ReasonCode(rawValue: 0x8E)
    public static let topicFilterInvalid = ReasonCode(rawValue: 0x8F)
    public static let topicNameInvalid = ReasonCode(rawValue: 0x90)
    public static let packetIdentifierInUse = ReasonCode(rawValue: 0x91)
    public static let packetIdentifierNotFound = ReasonCode(rawValue: 0x92)
    public static let receiveMaximumExceeded = ReasonCode(rawValue: 0x93)
    public static let topicAliasInvalid = ReasonCode(rawValue: 0x94)
    public static let packetTooLarge = ReasonCode(rawValue: 0x95)
    public static let messageRateTooHigh = ReasonCode(rawValue: 0x96)
    public static let quotaExceeded = ReasonCode(rawValue: 0x97)
    public static let administrativeAction = ReasonCode(rawValue: 0x98)
    public static let payloadFormatInvalid = ReasonCode(rawValue: 0x99)
    public static let retainNotSupported = ReasonCode(rawValue: 0x9A)
    public static let qosNotSupported = ReasonCode(rawValue: 0x9B)
    public static let useAnotherServer = ReasonCode(rawValue: 0x9C)
    public static let serverMoved = ReasonCode(rawValue: 0x9D)
    public static let sharedSubscriptionsNotSupported = ReasonCode(rawValue: 0x9E)
    public static let connectionRateExceeded = ReasonCode(rawValue: 0x9F)
    public static let maximumConnectTime = ReasonCode(rawValue: 0xA0)
    public static let subscriptionIdentifiersNotSupported = ReasonCode(rawValue: 0xA1)
    public static let wildcardSubscriptionsNotSupported = ReasonCode(rawValue: 0xA2)

    /// True for codes 0x80 and above.
    public var isFailure: Bool { rawValue >= 0x80 }

    /// Translates a 3.1.1 CONNACK return code (0-5) into the 5.0 reason code with the same meaning.
    public static func fromV3ConnectReturnCode(_ code: UInt8) -> ReasonCode {
        switch code {
        case 0: .success
        case 1: .unsupportedProtocolVersion
        case 2: .clientIdentifierNotValid
        case 3: .serverUnavailable
        case 4: .badUserNameOrPassword
        case 5: .notAuthorized
        default: .unspecifiedError
        }
    }

    /// The 3.1.1 CONNACK return code for this reason code (used when encoding for a 3.1.1 peer).
    var v3ConnectReturnCode: UInt8 {
        switch self {
        case .success: 0
        case .unsupportedProtocolVersion: 1
        case .clientIdentifierNotValid: 2
        case .serverUnavailable, .serverBusy: 3
        case .badUserNameOrPassword: 4
        default: 5
        }
    }

    public var description: String { "\(name) (0x\(hex2(rawValue)))" }

    /// What the code means, without its number.
    public var name: String {
        let name: String
        switch self {
        case .success: name = "success"
        case .grantedQoS1: name = "granted QoS 1"
        case .grantedQoS2: name = "granted QoS 2"
        case .disconnectWithWillMessage: name = "disconnect with will message"
        case .noMatchingSubscribers: name = "no matching subscribers"
        case .noSubscriptionExisted: name = "no subscription existed"
        case .continueAuthentication: name = "continue authentication"
        case .reAuthenticate: name = "re-authenticate"
        case .unspecifiedError: name = "unspecified error"
        case .malformedPacket: name = "malformed packet"
        case .protocolError: name = "protocol error"
        case .implementationSpecificError: name = "implementation specific error"
        case .unsupportedProtocolVersion: name = "unsupported protocol version"
        case .clientIdentifierNotValid: name = "client identifier not valid"
        case .badUserNameOrPassword: name = "bad user name or password"
        case .notAuthorized: name = "not authorized"
        case .serverUnavailable: name = "server unavailable"
        case .serverBusy: name = "server busy"
        case .banned: name = "banned"
        case .serverShuttingDown: name = "server shutting down"
        case .badAuthenticationMethod: name = "bad authentication method"
        case .keepAliveTimeout: name = "keep alive timeout"
        case .sessionTakenOver: name = "session taken over"
        case .topicFilterInvalid: name = "topic filter invalid"
        case .topicNameInvalid: name = "topic name invalid"
        case .packetIdentifierInUse: name = "packet identifier in use"
        case .packetIdentifierNotFound: name = "packet identifier not found"
        case .receiveMaximumExceeded: name = "receive maximum exceeded"
        case .topicAliasInvalid: name = "topic alias invalid"
        case .packetTooLarge: name = "packet too large"
        case .messageRateTooHigh: name = "message rate too high"
        case .quotaExceeded: name = "quota exceeded"
        case .administrativeAction: name = "administrative action"
        case .payloadFormatInvalid: name = "payload format invalid"
        case .retainNotSupported: name = "retain not supported"
        case .qosNotSupported: name = "QoS not supported"
        case .useAnotherServer: name = "use another server"
        case .serverMoved: name = "server moved"
        case .sharedSubscriptionsNotSupported: name = "shared subscriptions not supported"
        case .connectionRateExceeded: name = "connection rate exceeded"
        case .maximumConnectTime: name = "maximum connect time"
        case .subscriptionIdentifiersNotSupported: name = "subscription identifiers not supported"
        case .wildcardSubscriptionsNotSupported: name = "wildcard subscriptions not supported"
        default: name = "reason"
        }
        return name
    }

    /// How a 3.1.1 peer would say this CONNACK code: 3.1.1 has return codes 0 to 5, not reason codes.
    public var v3ConnectDescription: String {
        let text: String =
            switch v3ConnectReturnCode {
            case 0: "accepted"
            case 1: "unacceptable protocol version"
            case 2: "identifier rejected"
            case 3: "server unavailable"
            case 4: "bad user name or password"
            default: "not authorized"
            }
        return "\(text) (return code \(v3ConnectReturnCode))"
    }
}

func hex2(_ byte: UInt8) -> String {
    let digits = Array("0123456789ABCDEF")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
}
