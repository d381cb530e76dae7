import ArgumentParser

@main
struct QAnchorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qanchor",
        abstract: "Keeps Query-as-Anchor user embeddings fresh from Kafka event streams.",
        subcommands: [InspectCommand.self, StoreCommand.self, BenchCommand.self])
}
