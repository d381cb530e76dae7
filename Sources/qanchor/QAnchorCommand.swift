import ArgumentParser
import Foundation
import QAnchorDaemon

/// The `qanchor` binary: the daemon and its tools as subcommands.
@main
struct QAnchorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qanchor",
        abstract: "Keeps Query-as-Anchor user embeddings fresh from Kafka event streams.",
        version: BuildInfo.description,
        subcommands: [
            ServeCommand.self,
            RefreshCommand.self,
            LeaveCommand.self,
            ReplayCommand.self,
            ConfigCommand.self,
            EmbedCommand.self,
            EmbedTextCommand.self,
            QueryCommand.self,
            BundleCommand.self,
            InspectCommand.self,
            StoreCommand.self,
            KafkaCommand.self,
            BenchCommand.self,
        ])

    static func main() async {
        CLILogging.bootstrap()
        let command: any ParsableCommand
        do { command = try parseAsRoot() } catch { exit(withError: error) }
        do {
            var running = command
            if var asyncCommand = running as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try running.run()
            }
        } catch let error as ValidationError {
            // A bad argument found while running: show the usage of the subcommand that refused it, not the root's.
            Standard.error("Error: \(error.message)\nUsage: \(usageString(for: type(of: command)))\n"
                           + "  See 'qanchor \(commandPath(type(of: command))) --help' for more information.")
            Foundation.exit(ExitCode.validationFailure.rawValue)
        } catch {
            exit(withError: error)
        }
    }

    /// `bench store` for `BenchStoreCommand`.
    private static func commandPath(_ type: any ParsableCommand.Type) -> String {
        func find(_ node: any ParsableCommand.Type, _ path: [String]) -> [String]? {
            if node == type { return path }
            for child in node.configuration.subcommands {
                let name = child.configuration.commandName ?? String(describing: child).lowercased()
                if let found = find(child, path + [name]) { return found }
            }
            return nil
        }
        return (find(Self.self, []) ?? []).joined(separator: " ")
    }
}
