import MQTT
import Profile
import Scheme

extension Agent {
    /// The client configuration for `profile`: its broker (or `override`), the password from its
    /// source, a persistent session when the profile keeps one, and the `offline` will.
    public static func clientConfiguration(for profile: Profile, override: BrokerURL? = nil) throws(PasswordError)
        -> MQTTClientConfiguration
    {
        try BrokerSettings.clientConfiguration(profile.broker, will: will(for: profile), override: override)
    }
}
