import Checkpointing
import Configuration
import Training

/// The `model` a checkpoint's run was configured with.
package enum CheckpointModelPath {
    package static func read(_ checkpoint: String) throws -> String {
        let state = try CheckpointFile.read(checkpoint)
        return try RunConfiguration(checkpointYAML: state.configYAML, checkpoint: checkpoint).model
    }
}
