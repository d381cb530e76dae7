/// One modality of a user's state.
public struct ModalityState: Sendable {
    /// The modality index.
    public var modality: Int
    /// The modality name.
    public var name: String
    /// Text modalities: at most K_m events, oldest first.
    public var events: [StoredEvent]
    /// Tabular modalities: the newest snapshot in the window.
    public var snapshot: TabularSnapshot?
}
