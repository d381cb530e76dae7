/// When the writer thread commits LMDB transactions, and therefore what an acknowledged write costs and
/// when readers see it. A value type, part of `StoreConfiguration`.
///
/// - `perRequest` (default): every group of pending write requests is applied in one transaction that
///   is committed before its callers resume. Readers see a write as soon as it returns. Each commit
///   writes every page the transaction touched (≈ one random page per user of an ingest) and syncs.
/// - `journaled(interval:maxEvents:)`: ingests are applied to one long-lived write transaction and,
///   before their callers resume, appended to a write-ahead journal (`journal-*.qaj` in the store
///   directory) and `fdatasync`ed — an acknowledged ingest is as durable as under `perRequest`. The
///   transaction is committed (a *checkpoint*) after `interval`, after `maxEvents` ingested events, when
///   any other kind of write arrives (refresh commits, dirty marks, sweeps, drops, prefix KV), on
///   `EventStore.checkpoint()` and on `close()`; the journal is then emptied. Readers see only
///   checkpointed state: an ingest becomes visible to `userState`, `dirtyUsers`, `storedOffsets`, … at
///   the next checkpoint. A crash loses nothing acknowledged: the next open replays the journal.
public enum CommitMode: Sendable, Equatable {
    case perRequest
    case journaled(interval: Duration, maxEvents: Int)

    /// `journaled` with the defaults: a checkpoint every 5 seconds or every 200 000 events. Every
    /// checkpoint rewrites the B-tree pages its events touched (with 100 k users: most user pages), so
    /// fewer checkpoints mean fewer bytes written per event (measured in docs/store.md); the bound on
    /// events keeps the open transaction's dirty pages (held in memory) near LMDB's limit of 2¹⁷ pages.
    public static let journaled = CommitMode.journaled(interval: .seconds(5), maxEvents: 200_000)

    /// The mode's name (`perRequest`, `journaled`) for logs and benchmark reports.
    public var name: String {
        switch self {
        case .perRequest: "per_request"
        case .journaled: "journaled"
        }
    }
}
