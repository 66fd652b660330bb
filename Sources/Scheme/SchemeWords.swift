/// The words of the gpiobridge topic scheme, the same from an agent and from a mirrored board.
public enum SchemeWord {
    /// A device's availability, retained on `<base topic>/status`.
    public static let online = "online"
    public static let offline = "offline"
    /// An output's state, retained on its state topic.
    public static let on = "ON"
    public static let off = "OFF"

    /// `ON` or `OFF`.
    public static func state(_ on: Bool) -> String { on ? Self.on : Self.off }
}
