import Configuration
import Datasets
import Training

/// Refuses a train split that cannot feed the objective the configuration asks for, before any
/// model is loaded: without this a split with no short caption "trains" with loss 0 and exits 0,
/// and a missing negative column silently weakens `loss.hard_negatives`. The counts come from
/// dataset.json, which `Dataset.open` has checked against the shards.
enum TrainingDataCheck {
    static func check(_ split: DatasetSplit, step: StepSettings, dataPath: String) throws {
        let captions = split.description.captions
        if step.contrastiveWeight > 0 && captions.short.count == 0 {
            throw ConfigError("\(dataPath): the train split has no short captions, so the contrastive loss (loss.contrastive: "
                + "\(step.contrastiveWeight)) has no pair to learn from; give the pairs short captions or set loss.contrastive: 0.")
        }
        if step.ntpWeight > 0 {
            let available: Int
            switch step.ntpCaptions {
            case .long: available = captions.long.count
            case .short: available = captions.short.count
            case .both: available = captions.long.count + captions.short.count
            }
            guard available > 0 else {
                throw ConfigError("\(dataPath): the train split has no \(step.ntpCaptions == .both ? "" : "\(step.ntpCaptions.rawValue) ")"
                    + "captions, so the next-token loss (loss.ntp: \(step.ntpWeight), loss.ntp_captions: \(step.ntpCaptions.rawValue)) "
                    + "has nothing to predict; set loss.ntp: 0 or loss.ntp_captions to a kind of caption the data has.")
            }
        }
        try checkHardNegatives(split, wanted: step.hardNegatives, dataPath: dataPath)
    }

    /// Asking for more negatives than any pair carries (at most one per stored type, and with
    /// `discern synth --train-negatives` one in all) would pad every pair with missing ones.
    static func checkHardNegatives(_ split: DatasetSplit, wanted: Int, dataPath: String) throws {
        guard wanted > 0 else { return }
        let types = split.description.captions.negatives.filter { $0.value > 0 }.keys.sorted()
        guard !types.isEmpty else {
            throw ConfigError("\(dataPath): loss.hard_negatives is \(wanted) but the train split stores no hard negative captions; "
                + "regenerate it with `discern synth --train-negatives` (or give the manifest's pairs `negatives`), or set loss.hard_negatives: 0.")
        }
        let most = min(types.count, split.mostNegativesPerSample ?? types.count)
        guard wanted <= most else {
            throw ConfigError("\(dataPath): loss.hard_negatives is \(wanted) but the train split stores at most \(most) per pair "
                + "(types: \(types.joined(separator: ", "))); set loss.hard_negatives to at most \(most)"
                + (most < types.count ? ", or store more negatives per pair (discern synth --every-train-negative)." : "."))
        }
    }
}
