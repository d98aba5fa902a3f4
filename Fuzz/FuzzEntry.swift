import Foundation

/// libFuzzer's entry point for every parser target; `DISCERN_FUZZ_TARGET` picks the parser
/// (launch/fuzz sets it). Thrown errors are the parsers' clean answers and are ignored: only a
/// trap, a signal, a sanitizer report, a timeout or running out of memory is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    selectedTarget.run(bytes)
    return 0
}

/// SwiftPM links an executable target with `main` aliased to `<module>_main`, which shadows
/// libFuzzer's own main(); this one hands the command line to libFuzzer's driver instead.
@_cdecl("discern_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    _ = selectedTarget  // an unknown target stops here, before libFuzzer starts
    var count = argc, arguments = argv
    return runFuzzerDriver(&count, &arguments, fuzzOneInput)
}

/// `int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *, size_t))`
/// from libclang_rt.fuzzer (linked by -sanitize=fuzzer).
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<CInt>,
                     _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// Read once: the environment does not change during a campaign.
let selectedTarget: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["DISCERN_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget.all.first(where: { $0.name == name }) else {
        let names = FuzzTarget.all.map(\.name).joined(separator: ", ")
        FileHandle.standardError.write(Data("DISCERN_FUZZ_TARGET='\(name)' is not a fuzz target; use one of: \(names)\n".utf8))
        exit(2)
    }
    return target
}()
