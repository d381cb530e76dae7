extension BundleManifest {
    /// Checks every rule of format v1 that needs no tensor, against the backbone's tokenizer, and throws the first
    /// violation as ``BundleError/invalidField(file:field:expected:found:)`` naming the manifest field.
    ///
    /// Rules: modality names `[a-z][a-z0-9_]*` and unique, at most one tabular modality; text modalities have
    /// `max_events` > 0, `max_text_tokens` ≥ 2 and an `encoder` directory inside the bundle; tabular ones have
    /// `features` > 0 and `slots` > 0; every start, end and pad token, every `special` segment and the readout
    /// token are tokens of the backbone tokenizer; `window_days` > 0; the layout has exactly one `summary` segment
    /// and exactly one block per modality (and no block of an unknown one); neither text segments nor templates
    /// contain the readout token; `suffix_template` has exactly one `{query}`, `text_tower.template` exactly one
    /// `{text}`; sizes of the projection and text tower are positive; scenario ids are `[A-Za-z0-9._-]{1,200}` and
    /// unique; labels and tau come only with prototypes, and then labels are distinct and non-empty and tau > 0.
    public func validate(backboneTokenizer tokenizer: some TextTokenizer) throws(BundleError) {
        let file = Self.fileName
        func fail(_ field: String, _ expected: String, _ found: String) -> BundleError {
            .invalidField(file: file, field: field, expected: expected, found: found)
        }
        func requireToken(_ token: String, _ field: String) throws(BundleError) {
            guard tokenizer.id(forToken: token) != nil else {
                throw fail(field, "a token of the backbone tokenizer", "'\(token)'")
            }
        }
        func requirePositive(_ value: Int?, _ field: String) throws(BundleError) {
            guard let value, value > 0 else { throw fail(field, "a positive integer", value.map(String.init) ?? "nothing") }
        }

        guard !name.isEmpty else { throw fail("name", "a non-empty string", "''") }
        _ = try Self.normalizedDirectory(backbone, field: "backbone")
        guard !modalities.isEmpty else { throw fail("modalities", "at least one modality", "none") }
        var names = Set<String>()
        var tabularCount = 0
        for (i, m) in modalities.enumerated() {
            let at = "modalities[\(i)]"
            guard Self.isModalityName(m.name) else { throw fail("\(at).name", "[a-z][a-z0-9_]{0,63}", "'\(m.name)'") }
            guard names.insert(m.name).inserted else { throw fail("\(at).name", "a unique modality name", "a second '\(m.name)'") }
            switch m.kind {
            case .text:
                try requirePositive(m.maxEvents, "\(at).max_events")
                guard let limit = m.maxTextTokens, limit >= 2 else {
                    throw fail("\(at).max_text_tokens", "an integer >= 2 ([CLS] and [SEP])",
                               m.maxTextTokens.map(String.init) ?? "nothing")
                }
                guard let encoder = m.encoder else { throw fail("\(at).encoder", "an encoder directory", "nothing") }
                _ = try Self.normalizedDirectory(encoder, field: "\(at).encoder")
            case .tabular:
                try requirePositive(m.features, "\(at).features")
                try requirePositive(m.slots, "\(at).slots")
                tabularCount += 1
            }
            try requireToken(m.startToken, "\(at).start_token")
            try requireToken(m.endToken, "\(at).end_token")
            try requireToken(m.padToken, "\(at).pad_token")
        }
        guard tabularCount <= 1 else { throw fail("modalities", "at most one tabular modality", "\(tabularCount)") }
        try requirePositive(windowDays, "window_days")
        try requireToken(readoutToken, "readout_token")

        var summaries = 0
        var blocks: [String: Int] = [:]
        for (i, segment) in layout.enumerated() {
            switch segment {
            case let .text(text):
                guard !text.contains(readoutToken) else {
                    throw fail("layout[\(i)].text", "text without the readout token '\(readoutToken)'", "it")
                }
            case let .special(token):
                try requireToken(token, "layout[\(i)].token")
                guard token != readoutToken else {
                    throw fail("layout[\(i)].token", "a token other than the readout token", "'\(token)'")
                }
            case .summary:
                summaries += 1
            case let .modality(name):
                guard names.contains(name) else { throw fail("layout[\(i)].modality", "a modality of the manifest", "'\(name)'") }
                blocks[name, default: 0] += 1
            }
        }
        guard summaries == 1 else { throw fail("layout", "exactly one summary segment", "\(summaries)") }
        for m in modalities where blocks[m.name, default: 0] != 1 {
            throw fail("layout", "exactly one block of modality '\(m.name)'", "\(blocks[m.name, default: 0])")
        }

        try Self.checkTemplate(suffixTemplate, placeholder: "{query}", readout: readoutToken, field: "suffix_template")
        try Self.checkTemplate(textTower.template, placeholder: "{text}", readout: readoutToken, field: "text_tower.template")
        try requirePositive(textTower.maxTokens, "text_tower.max_tokens")
        try requirePositive(projection.hidden, "projection.hidden")
        try requirePositive(projection.output, "projection.output")
        guard adapterLayerNormEps > 0, adapterLayerNormEps.isFinite else {
            throw fail("adapter_layer_norm_eps", "a positive number", "\(adapterLayerNormEps)")
        }

        guard !scenarios.isEmpty else { throw fail("scenarios", "at least one scenario", "none") }
        var ids = Set<String>()
        for (i, s) in scenarios.enumerated() {
            let at = "scenarios[\(i)]"
            guard Self.isScenarioID(s.id) else { throw fail("\(at).id", "[A-Za-z0-9._-]{1,200}", "'\(s.id)'") }
            guard ids.insert(s.id).inserted else { throw fail("\(at).id", "a unique scenario id", "a second '\(s.id)'") }
            if let soft = s.softPrompt, soft.isEmpty { throw fail("\(at).soft_prompt", "a tensor name", "''") }
            guard let prototypes = s.prototypes else {
                if s.labels != nil || s.tau != nil { throw fail(at, "labels and tau only with prototypes", "no prototypes") }
                continue
            }
            guard !prototypes.isEmpty else { throw fail("\(at).prototypes", "a tensor name", "''") }
            guard let labels = s.labels, !labels.isEmpty, Set(labels).count == labels.count else {
                throw fail("\(at).labels", "distinct labels, one per prototype", s.labels.map { "\($0)" } ?? "nothing")
            }
            guard let tau = s.tau, tau > 0, tau.isFinite else {
                throw fail("\(at).tau", "a positive number", s.tau.map { "\($0)" } ?? "nothing")
            }
        }
    }

    private static func checkTemplate(_ template: String, placeholder: String, readout: String,
                                      field: String) throws(BundleError) {
        let count = template.components(separatedBy: placeholder).count - 1
        guard count == 1 else {
            throw .invalidField(file: fileName, field: field, expected: "exactly one '\(placeholder)'",
                                found: "\(count) in '\(template)'")
        }
        guard !template.contains(readout) else {
            throw .invalidField(file: fileName, field: field, expected: "no readout token '\(readout)'",
                                found: "'\(template)'")
        }
    }

    static func isModalityName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first), bytes.count <= 64 else {
            return false
        }
        return bytes.allSatisfy { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: "_") }
    }

    static func isScenarioID(_ id: String) -> Bool {
        let bytes = Array(id.utf8)
        return (1...200).contains(bytes.count) && bytes.allSatisfy {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
        }
    }
}
