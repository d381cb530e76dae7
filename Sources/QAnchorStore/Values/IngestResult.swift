/// What an ingest did.
public struct IngestResult: Sendable, Equatable {
    /// Events newly stored (and still present after pruning).
    public var stored = 0
    /// Events already present (same modality and event id): ignored.
    public var duplicates = 0
    /// Events older than the window: ignored.
    public var outsideWindow = 0
    /// Events that were not kept because K_m newer ones exist, or older tabular snapshots.
    public var superseded = 0
    /// Previously stored events removed by the cap or the window.
    public var pruned = 0
    /// Users marked dirty by this batch.
    public var dirtiedUsers = 0
    /// Previously stored text events this ingest displaced (`pruned`), and incoming ones that did not survive
    /// (`superseded`).
    public var removed: [RemovedEvent] = []

    /// All counts zero.
    public init() {}
}
