import Dispatch

/// Runs `body` once to warm up, then repeats it (at least `minimumRepetitions` times and
/// `minimumSeconds` in all) and returns the best time: the one least disturbed by a neighbour.
public func bestSeconds(minimumSeconds: Double, minimumRepetitions: Int = 3, _ body: () -> Void) -> Double {
    body()
    var best = Double.infinity, total = 0.0, repetitions = 0
    repeat {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        best = min(best, elapsed)
        total += elapsed
        repetitions += 1
    } while total < minimumSeconds || repetitions < minimumRepetitions
    return best
}
