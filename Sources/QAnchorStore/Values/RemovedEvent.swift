/// A text event a write removed from the state: displaced by `K_m` newer events of its user and modality, or
/// expired. Reported so that copies of the state elsewhere (the daemon's changelog) can drop it too.
public struct RemovedEvent: Sendable, Hashable {
    public var user: UserKey
    public var modality: Int
    public var eventID: String

    public init(user: UserKey, modality: Int, eventID: String) {
        self.user = user
        self.modality = modality
        self.eventID = eventID
    }
}
