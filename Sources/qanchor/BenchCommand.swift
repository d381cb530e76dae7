import ArgumentParser

/// `qanchor bench`: benchmarks that print JSON (one subcommand per subsystem).
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks (JSON on stdout).",
        subcommands: [
            BenchModelCommand.self,
            BenchTokenizersCommand.self,
        ])
}
