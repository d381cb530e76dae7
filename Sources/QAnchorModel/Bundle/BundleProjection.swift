/// The projection head of a bundle (`projection` in `qanchor.json`): `Linear(d_model → hidden) → ReLU →
/// Linear(hidden → output)`, the authors' `low_dim_mlp_left` (896 → 512 → 128). The output width is the `dim`
/// of every embedding the bundle produces. A value type: safe to share between threads.
public struct BundleProjection: Codable, Sendable, Equatable {
    public var hidden: Int
    public var output: Int

    enum CodingKeys: String, CodingKey, CaseIterable { case hidden, output }

    public init(hidden: Int, output: Int) {
        self.hidden = hidden
        self.output = output
    }
}
