import Foundation

extension BundleManifest {
    /// Which keys each object of `qanchor.json` may hold (from the types' own coding keys), so that a misspelt or
    /// extra key is an error instead of being ignored.
    indirect enum KeySchema: Sendable {
        case object([String: KeySchema])
        case list(KeySchema)
        case value

        static func keys<K: CodingKey & CaseIterable>(_: K.Type, nested: [String: KeySchema] = [:]) -> KeySchema {
            .object(Dictionary(uniqueKeysWithValues: K.allCases.map { ($0.stringValue, nested[$0.stringValue] ?? .value) }))
        }
    }

    static let keySchema = KeySchema.keys(CodingKeys.self, nested: [
        "modalities": .list(.keys(BundleModality.CodingKeys.self)),
        "layout": .list(.keys(LayoutSegment.CodingKeys.self)),
        "projection": .keys(BundleProjection.CodingKeys.self),
        "text_tower": .keys(TextTowerTemplate.CodingKeys.self),
        "scenarios": .list(.keys(BundleScenario.CodingKeys.self)),
    ])

    /// Throws ``BundleError/malformedManifest(file:field:reason:)`` for the first key no type declares, naming its
    /// path (`modalities[1].max_evnts`) and the nearest known key.
    static func checkKeys(_ value: JSONValue, file: String) throws(BundleError) {
        func walk(_ value: JSONValue, _ schema: KeySchema, _ path: String) throws(BundleError) {
            switch (schema, value) {
            case let (.object(known), .object(members)):
                for (key, member) in members.sorted(by: { $0.key < $1.key }) {
                    let field = path.isEmpty ? key : "\(path).\(key)"
                    guard let inner = known[key] else {
                        throw .malformedManifest(file: file, field: field,
                                                 reason: "unknown key\(NearestName.suggestion(for: key, among: known.keys))")
                    }
                    try walk(member, inner, field)
                }
            case let (.list(inner), .array(elements)):
                for (index, element) in elements.enumerated() { try walk(element, inner, "\(path)[\(index)]") }
            default:
                return  // a value, or a shape the decoder reports itself
            }
        }
        try walk(value, keySchema, "")
    }

    /// The value at a decoding error's path, for "found …" in messages.
    static func value(at keys: [any CodingKey], in root: JSONValue) -> JSONValue? {
        var current = root
        for key in keys {
            if let index = key.intValue, case let .array(elements) = current, elements.indices.contains(index) {
                current = elements[index]
            } else if case let .object(members) = current, let next = members[key.stringValue] {
                current = next
            } else {
                return nil
            }
        }
        return current
    }
}
