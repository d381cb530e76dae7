import ArgumentParser
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
            BundleCommand.self,
            InspectCommand.self,
            StoreCommand.self,
            KafkaCommand.self,
            BenchCommand.self,
        ])

    static func main() async {
        CLILogging.bootstrap()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
