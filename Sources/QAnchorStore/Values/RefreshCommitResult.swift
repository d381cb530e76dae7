/// The outcome of recording refreshes.
public struct RefreshCommitResult: Sendable, Equatable {
    /// Users whose dirty mark was removed.
    public var cleaned = 0
    /// Users left dirty because they were dirtied again after the mark was read.
    public var stillDirty: [UserKey] = []
}
