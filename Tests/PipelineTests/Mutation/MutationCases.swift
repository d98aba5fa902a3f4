import Foundation

/// The command a case runs on its (mutated) copy of the inputs.
enum MutationCommand: String {
    case train, resume, embed, embedCheckpoint = "embed --checkpoint", export, eval, prepare

    func arguments(_ inputs: MutationInputs) -> [String] {
        let output = inputs.output.path
        switch self {
        case .train: return ["train", "--config", inputs.config.path, "--steps", "1"]
        case .resume: return ["train", "--config", inputs.config.path, "--resume", inputs.checkpoint.path]
        case .embed, .embedCheckpoint:
            let checkpoint = self == .embedCheckpoint ? ["--checkpoint", inputs.checkpoint.path] : []
            return ["embed", "--model", inputs.model.path, "--images", inputs.image.path, "--texts", inputs.texts.path,
                    "--output", output + ".h5"] + checkpoint
        case .export: return ["export", "--checkpoint", inputs.checkpoint.path, "--model", inputs.model.path, "--output", output]
        case .eval: return ["eval", "--model", inputs.model.path, "--data", inputs.data.path, "--split", "eval"]
        case .prepare:
            return ["prepare", "--manifest", inputs.manifest.path, "--output", output, "--split", "train", "--strict",
                    "--image-size", "32", "--threads", "1"]
        }
    }

    /// What a refused run must not leave behind (nil: the command writes no output).
    func output(_ inputs: MutationInputs) -> URL? {
        switch self {
        case .embed, .embedCheckpoint: return URL(fileURLWithPath: inputs.output.path + ".h5")
        case .export, .prepare: return inputs.output
        case .train, .resume, .eval: return nil
        }
    }
}

/// What a case must end with.
enum MutationExpectation {
    /// The unmutated inputs: exit 0 (the control that shows the command line reaches its work).
    case success
    /// Invalid by construction: a non-zero exit with a message (naming `mentioning` when given),
    /// no signal, within the time bound, no output left behind.
    case refused(mentioning: String? = nil)
}

/// One row of the table: which command, which mutation, what is expected. `pending` (a reason,
/// such as "issue N: what is missing") marks a row for a known bug whose fix has not landed: it is
/// skipped (run it with DISCERN_MUTATION_ALL=1) until the fix removes the flag. No row carries one
/// today: every issue 14 class passes.
struct MutationCase {
    let name: String
    let command: MutationCommand
    let expect: MutationExpectation
    var pending: String? = nil
    let mutate: (MutationInputs) throws -> Void

    /// This row with the known-failing flag set.
    func pending(_ reason: String) -> MutationCase {
        var row = self
        row.pending = reason
        return row
    }
}
