import Foundation

@testable import Profile

/// The example profiles shipped in Profiles/.
let profilesDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Profiles")

private let nowhere = SettingLocation(location: SourceLocation(line: 1, column: 1), path: "")

/// The profile without where each setting was written, which a round trip through `profile show` changes.
func withoutOrigins(_ profile: Profile) -> Profile {
    var profile = profile
    profile.source = ""
    for index in profile.expanders.indices { profile.expanders[index].origin = nowhere }
    for index in profile.outputs.indices { profile.outputs[index].origin = nowhere }
    for index in profile.inputs.indices { profile.inputs[index].origin = nowhere }
    for index in profile.sensors.indices { profile.sensors[index].origin = nowhere }
    for index in profile.publishers.indices { profile.publishers[index].origin = nowhere }
    for index in profile.subscriptions.indices { profile.subscriptions[index].origin = nowhere }
    return profile
}

/// The relay profile without where each setting was written.
func withoutOrigins(_ profile: RelayProfile) -> RelayProfile {
    var profile = profile
    profile.source = ""
    for index in profile.boards.indices { profile.boards[index].origin = nowhere }
    for index in profile.links.indices { profile.links[index].origin = nowhere }
    return profile
}
