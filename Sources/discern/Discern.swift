import ArgumentParser
import Provenance

struct Discern: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "discern",
        abstract: "Turn a generative vision-language model into an image/text embedding model (VladVA), on CPUs, over MPI.",
        version: BuildInfo.current.versionText,
        subcommands: [Train.self, Eval.self, Embed.self, Export.self, Prepare.self, Synth.self, InitModel.self, Compare.self, Summarize.self, ConfigCommand.self,
                      Bench.self, Doctor.self])
}
