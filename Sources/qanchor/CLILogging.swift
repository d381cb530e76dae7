import Foundation
import Logging
import QAnchorDaemon
import Synchronization

/// Logging for the binary: bootstrapped once at start with `warning` (tools stay quiet: their output is the
/// result), raised or lowered by `serve` from its configuration (`log.level`, `log.format`), or by the
/// `QANCHOR_LOG_LEVEL` environment variable for any command.
enum CLILogging {
    private struct Settings { var level: Logger.Level; var json: Bool }
    private static let settings = Mutex(Settings(
        level: ProcessInfo.processInfo.environment["QANCHOR_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning,
        json: false))

    static func bootstrap() {
        LoggingSystem.bootstrap { label in
            let s = settings.withLock { $0 }
            var handler: any LogHandler = s.json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = s.level
            return handler
        }
    }

    /// Applies to loggers created after the call.
    static func configure(level: Logger.Level, json: Bool) {
        settings.withLock { $0 = Settings(level: level, json: json) }
    }
}
