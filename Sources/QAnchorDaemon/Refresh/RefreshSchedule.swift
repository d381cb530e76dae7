import Foundation

/// When the next scheduled refresh is due: daily at a UTC time, or every fixed interval. A value type.
public struct RefreshSchedule: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// Minutes after midnight UTC.
        case daily(minuteOfDay: Int)
        case interval(seconds: Int)
    }

    public var kind: Kind

    public init(_ refresh: DaemonConfiguration.Refresh) {
        if refresh.intervalSeconds > 0 {
            kind = .interval(seconds: refresh.intervalSeconds)
        } else {
            kind = .daily(minuteOfDay: DaemonConfiguration.parseDailyTime(refresh.dailyAt) ?? 120)
        }
    }

    /// The first due time strictly after `afterMs` (ms since the epoch).
    public func next(afterMs: Int64) -> Int64 {
        switch kind {
        case .interval(let seconds):
            return afterMs + Int64(seconds) * 1000
        case .daily(let minute):
            let day: Int64 = 86_400_000
            let offset = Int64(minute) * 60_000
            let todays = (afterMs / day) * day + offset
            return todays > afterMs ? todays : todays + day
        }
    }
}
