/// Which events make a user's history for the model: the selection `qanchor embed` applies (and the daemon's
/// store keeps), as a pure function over parsed events.
///
/// In order: (1) the window — keep `ts` in `[now − window_days, now + skew]`, both ends included; (2) dedup —
/// the first event (input order) with a given (modality, event_id) wins, later ones are dropped; (3) per user and
/// text modality, the K_m newest by (ts, event_id as UTF-8 bytes), kept oldest first; (4) per user, the newest
/// tabular snapshot by the same order. Every user with at least one parsed event gets a history, possibly empty.
/// Events of a modality that is not in `modalities` are ignored (the parser never produces them).
/// The same rules as `select_events` in `ops/model/qanchor_reference.py`. A value type.
public struct ModelEventSelection: Sendable, Equatable {
    /// Why an event is not in any history.
    public enum DropReason: String, Sendable, Equatable {
        case outsideWindow = "outside the window"
        case duplicate = "duplicate event_id"
    }

    /// A dropped event and why.
    public struct Dropped: Sendable, Equatable {
        public let event: ModelEvent
        public let reason: DropReason
    }

    /// One user's selected events.
    public struct UserHistory: Sendable, Equatable {
        public let userID: String
        /// Per modality name (every modality of the manifest is present): the selected events, oldest first;
        /// at most K_m for a text modality, at most one for the tabular one.
        public let events: [String: [ModelEvent]]

        /// The newest timestamp among the selected events (the output's `event_time`), nil when there are none.
        public var eventTimeMs: Int64? { events.values.lazy.flatMap { $0 }.map(\.timestampMs).max() }
    }

    /// Histories sorted by user id (UTF-8 bytes).
    public let users: [UserHistory]
    /// Dropped events in input order.
    public let dropped: [Dropped]
    /// `now − window_days` in epoch milliseconds (the output's `window_start`).
    public let windowStartMs: Int64
    /// `now + skew`.
    public let windowEndMs: Int64

    public init(events: [ModelEvent], modalities: [BundleModality], windowDays: Int, nowMs: Int64, skewMs: Int64) {
        let (span, spanOverflow) = Int64(windowDays).multipliedReportingOverflow(by: 86_400_000)
        let (start, startOverflow) = nowMs.subtractingReportingOverflow(spanOverflow ? .max : span)
        let (end, endOverflow) = nowMs.addingReportingOverflow(skewMs)
        windowStartMs = startOverflow ? .min : start
        windowEndMs = endOverflow ? .max : end

        var seen = Set<Pair>()
        var dropped: [Dropped] = []
        var perUser: [String: [String: [ModelEvent]]] = [:]
        let empty = Dictionary(uniqueKeysWithValues: modalities.map { ($0.name, [ModelEvent]()) })
        for event in events {
            if perUser[event.userID] == nil { perUser[event.userID] = empty }
            guard event.timestampMs >= windowStartMs, event.timestampMs <= windowEndMs else {
                dropped.append(Dropped(event: event, reason: .outsideWindow))
                continue
            }
            guard seen.insert(Pair(modality: event.modality, eventID: event.eventID)).inserted else {
                dropped.append(Dropped(event: event, reason: .duplicate))
                continue
            }
            perUser[event.userID]?[event.modality, default: []].append(event)
        }
        let keep = Dictionary(uniqueKeysWithValues: modalities.map { ($0.name, $0.kind == .text ? ($0.maxEvents ?? 0) : 1) })
        users = perUser.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }.map { user in
            var chosen: [String: [ModelEvent]] = [:]
            for (modality, list) in perUser[user] ?? [:] {
                let sorted = list.sorted { $0.precedes($1) }
                chosen[modality] = Array(sorted.suffix(max(0, keep[modality] ?? 0)))
            }
            return UserHistory(userID: user, events: chosen)
        }
        self.dropped = dropped
    }

    private struct Pair: Hashable {
        let modality: String
        let eventID: String
    }
}
