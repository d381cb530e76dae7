import ArgumentParser

/// `qanchor bench …`: benchmarks that print JSON (each with its peer and targets).
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run a benchmark and print its figures as JSON.",
        subcommands: [BenchStoreCommand.self])
}
