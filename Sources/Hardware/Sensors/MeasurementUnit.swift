/// A unit a reading can be published in. Drivers measure in each quantity's base unit
/// (``SensorQuantity/unit``); a profile may ask for another one of the same quantity.
public enum MeasurementUnit: String, Sendable, Hashable, CaseIterable {
    case celsius = "°C"
    case fahrenheit = "°F"
    case kelvin = "K"
    case percent = "%"
    case hectopascal = "hPa"
    case pascal = "Pa"
    case kilopascal = "kPa"
    case millimetreOfMercury = "mmHg"
    case inchOfMercury = "inHg"
    case lux = "lx"
    case volt = "V"
    case millivolt = "mV"
    case ampere = "A"
    case milliampere = "mA"
    case watt = "W"
    case milliwatt = "mW"

    /// The units `quantity` can be published in; the first is the one drivers measure in.
    public static func units(for quantity: SensorQuantity) -> [MeasurementUnit] {
        switch quantity {
        case .temperature: [.celsius, .fahrenheit, .kelvin]
        case .humidity: [.percent]
        case .pressure: [.hectopascal, .pascal, .kilopascal, .millimetreOfMercury, .inchOfMercury]
        case .illuminance: [.lux]
        case .voltage, .shuntVoltage: [.volt, .millivolt]
        case .current: [.ampere, .milliampere]
        case .power: [.watt, .milliwatt]
        }
    }

    /// Reads `°C`, `C` or `celsius` (any case) as a unit.
    public init?(parsing text: String) {
        let lowered = text.lowercased()
        let aliases: [String: MeasurementUnit] = [
            "c": .celsius, "celsius": .celsius, "f": .fahrenheit, "fahrenheit": .fahrenheit,
            "kelvin": .kelvin,
        ]
        guard let unit = Self.allCases.first(where: { $0.rawValue.lowercased() == lowered }) ?? aliases[lowered] else { return nil }
        self = unit
    }

    /// Converts `value`, measured in the base unit of its quantity, to this unit.
    public func convert(_ value: Double) -> Double {
        switch self {
        case .celsius, .percent, .hectopascal, .lux, .volt, .ampere, .watt: value
        case .fahrenheit: value * 9 / 5 + 32
        case .kelvin: value + 273.15
        case .pascal: value * 100
        case .kilopascal: value / 10
        case .millimetreOfMercury: value * 100 / 133.322387415
        case .inchOfMercury: value * 100 / 3386.389
        case .millivolt, .milliampere, .milliwatt: value * 1000
        }
    }
}
