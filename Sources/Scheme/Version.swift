/// The one version constant: `--version`, device infos, Home Assistant configs and the Debian
/// packages (scripts/package.sh reads it from here) all take it.
public let gpiobridgeVersion = "0.1.0"
