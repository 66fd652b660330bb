/// Home Assistant's sensor device classes for numbers (2025.1), and the units it takes for the
/// common ones. A mirrored sensor's class and unit from a relay profile are checked against them,
/// since Home Assistant warns about a unit its class does not take.
public enum SensorClassCatalog {
    /// Every class of a numeric sensor (not date, timestamp or enum, whose states are not numbers).
    public static let numericClasses: Set<String> = [
        "apparent_power", "aqi", "area", "atmospheric_pressure", "battery", "blood_glucose_concentration", "carbon_dioxide",
        "carbon_monoxide", "conductivity", "current", "data_rate", "data_size", "distance", "duration", "energy", "energy_storage",
        "frequency", "gas", "humidity", "illuminance", "irradiance", "moisture", "monetary", "nitrogen_dioxide", "nitrogen_monoxide",
        "nitrous_oxide", "ozone", "ph", "pm1", "pm10", "pm25", "power", "power_factor", "precipitation", "precipitation_intensity",
        "pressure", "reactive_power", "signal_strength", "sound_pressure", "speed", "sulphur_dioxide", "temperature",
        "volatile_organic_compounds", "volatile_organic_compounds_parts", "voltage", "volume", "volume_flow_rate", "volume_storage",
        "water", "weight", "wind_speed",
    ]

    /// The units Home Assistant takes for a class, where a profile is likely to name one.
    public static let units: [String: [String]] = [
        "temperature": ["°C", "°F", "K"],
        "humidity": ["%"],
        "moisture": ["%"],
        "battery": ["%"],
        "pressure": ["Pa", "kPa", "hPa", "mbar", "bar", "cbar", "mmHg", "inHg", "psi"],
        "power": ["W", "kW", "MW", "GW", "TW"],
        "energy": ["Wh", "kWh", "MWh", "GWh", "TWh", "mWh", "J", "kJ", "MJ", "GJ", "cal", "kcal", "Mcal", "Gcal"],
        "illuminance": ["lx"],
        "voltage": ["V", "mV", "µV"],
        "current": ["A", "mA"],
        "distance": ["mm", "cm", "m", "km", "in", "ft", "yd", "mi", "nmi"],
        "duration": ["ms", "s", "min", "h", "d"],
    ]
}
