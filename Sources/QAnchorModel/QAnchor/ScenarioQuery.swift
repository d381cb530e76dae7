/// An ad-hoc scenario (docs/query.md): a query text run as a suffix on a user's prefix, like a bundle scenario but
/// chosen at request time. The paper's point — a new scenario is a new query, not a new model.
///
/// - `query` goes through the bundle's `suffix_template` exactly as a bundle scenario's query does.
/// - `scenario`, when set, names a bundle scenario whose learned soft prompt the suffix uses, and whose prototypes,
///   labels and tau score the result unless `prototypes` are given here. Without it the suffix has no soft prompt.
/// - `prototypes` (`K` rows of the output width), with `labels` (`K` names; default `p0…`) and `tau` (> 0; default
///   1) give `scores = softmax(u · Pᵀ / τ)`.
///
/// With `query` equal to a bundle scenario's query and `scenario` naming it, the result equals that scenario's
/// embedding. A value type.
public struct ScenarioQuery: Sendable, Equatable {
    /// The id its results carry; nil: the borrowed scenario's id, else `adhoc`.
    public var id: String?
    public var query: String
    public var scenario: String?
    public var prototypes: [[Float]]?
    public var labels: [String]?
    public var tau: Double?

    public init(id: String? = nil, query: String, scenario: String? = nil, prototypes: [[Float]]? = nil,
                labels: [String]? = nil, tau: Double? = nil) {
        self.id = id
        self.query = query
        self.scenario = scenario
        self.prototypes = prototypes
        self.labels = labels
        self.tau = tau
    }

    /// The id its results carry: `id`, else the borrowed scenario's id, else `adhoc`.
    public var resultID: String { id ?? scenario ?? "adhoc" }
}
