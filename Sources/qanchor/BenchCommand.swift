import ArgumentParser

/// `qanchor bench …`: benchmarks that print JSON (each with its peer, the machine and the thread count).
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run a benchmark and print its figures as JSON.",
        subcommands: [
            BenchModelCommand.self,
            BenchPipelineCommand.self,
            BenchQueryCommand.self,
            BenchRebalanceCommand.self,
            BenchStoreCommand.self,
            BenchTokenizersCommand.self,
        ])
}
