import Foundation

/// One modality as the store sees it.
public struct ModalitySchema: Sendable, Hashable, Codable {
    /// Text modalities keep up to `cap` event vectors; tabular ones keep one snapshot (newest wins).
    public enum Kind: String, Sendable, Hashable, Codable { case text, tabular }

    /// Name (e.g. `bill`); stored in the meta table.
    public var name: String
    /// Text or tabular.
    public var kind: Kind
    /// K_m: the newest events kept per user (text modalities; ignored for tabular).
    public var cap: Int
    /// Length of every vector of this modality (768 for `h`, F for tabular features).
    public var dimension: Int

    /// Creates a modality schema.
    public init(name: String, kind: Kind, cap: Int, dimension: Int) {
        self.name = name
        self.kind = kind
        self.cap = cap
        self.dimension = dimension
    }
}
