import Platform
import XCTest

final class BLASInfoTests: XCTestCase {
    let avx512Intel = CPUInfo(cpuinfo: "vendor_id\t: GenuineIntel\nmodel name\t: Xeon\nflags\t\t: fpu avx avx2 fma avx512f\n")
    let avx2AMD = CPUInfo(cpuinfo: "vendor_id\t: AuthenticAMD\nmodel name\t: EPYC\nflags\t\t: fpu avx avx2 fma\n")
    let oldCPU = CPUInfo(cpuinfo: "vendor_id\t: GenuineIntel\nmodel name\t: Old\nflags\t\t: fpu sse sse2 sse3\n")

    func testParsesCpuinfo() {
        XCTAssertEqual(avx512Intel.vendor, "GenuineIntel")
        XCTAssertTrue(avx512Intel.hasAVX512)
        XCTAssertTrue(avx2AMD.hasAVX2)
        XCTAssertFalse(avx2AMD.hasAVX512)
    }

    func testGenericKernelsOnWideCPUWarnWithTheRightFix() throws {
        let generic = BLASInfo(coreName: "Prescott")
        let intel = try XCTUnwrap(blasTrapWarning(blas: generic, cpu: avx512Intel))
        XCTAssertTrue(intel.contains("export OPENBLAS_CORETYPE=SkylakeX"), intel)
        let amd = try XCTUnwrap(blasTrapWarning(blas: generic, cpu: avx2AMD))
        XCTAssertTrue(amd.contains("export OPENBLAS_CORETYPE=Zen"), amd)
    }

    func testNoWarningWhenKernelsFitOrCPUIsOld() {
        XCTAssertNil(blasTrapWarning(blas: BLASInfo(coreName: "SkylakeX"), cpu: avx512Intel))
        XCTAssertNil(blasTrapWarning(blas: BLASInfo(coreName: "Zen"), cpu: avx2AMD))
        XCTAssertNil(blasTrapWarning(blas: BLASInfo(coreName: "Prescott"), cpu: oldCPU))
    }
}
