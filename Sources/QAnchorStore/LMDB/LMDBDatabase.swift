import CLMDB

/// A handle to one named LMDB sub-database, valid for the lifetime of its environment.
///
/// A plain value: copy it freely across threads. It is opened once, in the environment's first write
/// transaction, as LMDB requires.
struct LMDBDatabase: Sendable, Hashable {
    /// The sub-database name (used in error messages).
    let name: String
    /// LMDB's handle.
    let dbi: MDB_dbi
}
