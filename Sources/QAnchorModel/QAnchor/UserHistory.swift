/// What the model needs of one user: per text modality the event vectors `h` of the (at most K_m) newest events in
/// the window, oldest first; per tabular modality the newest feature snapshot, if any.
///
/// Build it from stored vectors (the daemon) or from freshly encoded texts (`qanchor embed`). A value type.
public struct UserHistory: Sendable, Equatable {
    /// Modality name → event vectors (each of the encoder width), oldest first.
    public var eventVectors: [String: [[Float]]]
    /// Modality name → feature vector (F numbers). Missing means "no snapshot in the window" (x = 0).
    public var tabular: [String: [Float]]

    public init(eventVectors: [String: [[Float]]] = [:], tabular: [String: [Float]] = [:]) {
        self.eventVectors = eventVectors
        self.tabular = tabular
    }
}

/// The hierarchical user tokens of one user, ready to be placed in the prefix: the summary tokens (user, then one
/// per modality in manifest order) and each modality's block of slots. All rows are `d_model` wide.
struct UserTokens: Sendable {
    /// `(1 + M) × D`, row-major.
    var summary: [Float]
    /// Modality name → `slots × D`, row-major (events oldest first, then padding = adapter(0)).
    var blocks: [String: [Float]]
    /// Modality name → number of real (non-padding) slots.
    var valid: [String: Int]
}
