/// Identifies a user's state: the source partition (the co-partitioned topics' partition of the user's
/// key) and the user id. Every per-user key in the store starts with this, partition first, so one
/// partition's users form a contiguous key range.
///
/// Invariants (checked where keys are built): `partition ≥ 0`; `userID` is 1…200 bytes of UTF-8.
public struct UserKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The source partition (≥ 0).
    public var partition: Int32
    /// The user id (1…200 bytes of UTF-8).
    public var userID: String

    /// Creates a key.
    public init(partition: Int32, userID: String) {
        self.partition = partition
        self.userID = userID
    }

    /// `user@partition`.
    public var description: String { "\(userID)@\(partition)" }

    /// Key order: by partition, then by the stored user encoding (length, then bytes).
    public static func < (a: UserKey, b: UserKey) -> Bool {
        Keys.user(a).lexicographicallyPrecedes(Keys.user(b))
    }

    static let maxUserIDBytes = 200
}
