/// A user's version that may have reached the output topics without its refresh being recorded (its records were
/// sent, then the writer failed or died): a later refresh of the user must publish a higher version.
public struct ReservedVersion: Sendable, Hashable {
    public var user: UserKey
    public var version: UInt64

    public init(user: UserKey, version: UInt64) {
        self.user = user
        self.version = version
    }
}
