import ArgumentParser
import Configuration

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Show a resolved configuration or the reference of every key.",
        subcommands: [Show.self, Reference.self])

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the configuration after defaults, the file and --set overrides.")
        @Option(help: "YAML configuration file (optional: defaults alone otherwise).") var config: String?
        @Option(name: .customLong("set"), help: "KEY=VALUE override, repeatable.") var overrides: [String] = []

        func run() throws {
            var resolved = try config.map { try ResolvedConfig.load(file: $0) } ?? ResolvedConfig()
            for assignment in overrides { try resolved.set(assignment) }
            print(resolved.yaml, terminator: "")
        }
    }

    struct Reference: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print docs/config.md: every key, its type, default and meaning.")
        func run() { print(ConfigReference.markdown, terminator: "") }
    }
}
