import Foundation

/// kcat on the runtime ops/setup installs (`QANCHOR_KCAT` overrides).
public enum Kcat {
    public static var path: String {
        ProcessInfo.processInfo.environment["QANCHOR_KCAT"] ?? "/opt/qanchor/bin/kcat"
    }

    @discardableResult
    public static func run(_ arguments: [String], input: String? = nil) throws -> String {
        let (status, output) = try Subprocess.run(path, arguments, input: input)
        guard status == 0 else {
            throw BrokerError(message: "kcat \(arguments.joined(separator: " ")) exited \(status)")
        }
        return output
    }
}
