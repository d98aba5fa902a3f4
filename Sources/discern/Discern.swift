import ArgumentParser

struct Discern: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "discern",
        abstract: "Turn a generative vision-language model into an image/text embedding model (VladVA), on CPUs, over MPI.",
        subcommands: [Doctor.self, InitModel.self])
}
