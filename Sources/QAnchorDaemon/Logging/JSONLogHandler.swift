import Foundation
import Logging

/// A swift-log handler that writes one JSON object per line to standard error:
/// `{"ts":"…","level":"info","label":"…","message":"…", <metadata>}`. Thread-safe (one `write` per line).
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    let label: String

    public init(label: String) { self.label = label }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let level = event.level, message = event.message
        var fields = metadata.merging(event.metadata ?? [:]) { $1 }
        fields.removeValue(forKey: "ts")
        var out = "{\"ts\":\(JSONText.string(Date().formatted(.iso8601))),\"level\":\"\(level.rawValue)\","
        out += "\"label\":\(JSONText.string(label)),\"message\":\(JSONText.string(message.description))"
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
            out += ",\(JSONText.string(key)):\(JSONText.string(value.description))"
        }
        out += "}\n"
        FileHandle.standardError.write(Data(out.utf8))
    }
}
