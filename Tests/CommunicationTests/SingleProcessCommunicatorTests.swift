import Communication
import XCTest

/// The single-process communicator in this process, and the choice between the two.
final class SingleProcessCommunicatorTests: XCTestCase {
    func testRankAndSize() {
        let communicator = SingleProcessCommunicator()
        XCTAssertEqual(communicator.rank, 0)
        XCTAssertEqual(communicator.size, 1)
    }

    func testReductionsAreTheIdentity() throws {
        let communicator = SingleProcessCommunicator()
        var floats: [Float] = [1.5, -2, 3]
        try communicator.allReduceSum(&floats)
        XCTAssertEqual(floats, [1.5, -2, 3])
        var doubles: [Double] = [4, -5]
        try communicator.allReduceMax(&doubles)
        XCTAssertEqual(doubles, [4, -5])
        XCTAssertEqual(try communicator.allReduceSum(Int64(7)), 7)
        XCTAssertEqual(try communicator.allReduceMax(2.5), 2.5)
        XCTAssertTrue(try communicator.anyRankFailed(true))
        XCTAssertFalse(try communicator.anyRankFailed(false))
    }

    func testGatherAndScatterCopy() throws {
        let communicator = SingleProcessCommunicator()
        let send: [Int64] = [3, 1, 4, 1, 5]
        var gathered = [Int64](repeating: 0, count: 5)
        var scattered = [Int64](repeating: 0, count: 5)
        try send.withUnsafeBufferPointer { send in
            try gathered.withUnsafeMutableBufferPointer { try communicator.allGather(send: send, receive: $0) }
            try scattered.withUnsafeMutableBufferPointer { try communicator.reduceScatterSum(send: send, receive: $0) }
        }
        XCTAssertEqual(gathered, send)
        XCTAssertEqual(scattered, send)
    }

    func testBroadcastKeepsTheRootsData() throws {
        let communicator = SingleProcessCommunicator()
        var values: [UInt8] = [1, 2, 3]
        try values.withUnsafeMutableBufferPointer { try communicator.broadcast($0, root: 0) }
        XCTAssertEqual(values, [1, 2, 3])
        XCTAssertEqual(try communicator.broadcast("config ✓", root: 0), "config ✓")
        XCTAssertEqual(try communicator.broadcast([UInt8](), root: 0), [])
        try communicator.barrier()
        try communicator.finalize()
    }

    func testLauncherDetection() throws {
        XCTAssertFalse(launchedByMPI(environment: [:]))
        XCTAssertFalse(launchedByMPI(environment: ["SLURM_NTASKS": "4"]), "sbatch alone starts no ranks")
        XCTAssertTrue(launchedByMPI(environment: ["OMPI_COMM_WORLD_SIZE": "2"]))
        XCTAssertTrue(launchedByMPI(environment: ["PMI_SIZE": "2"]))
        XCTAssertTrue(launchedByMPI(environment: ["PMIX_RANK": "0"]))
        XCTAssertTrue(try makeCommunicator(environment: [:]) is SingleProcessCommunicator)
    }

    /// Reading the version needs no MPI_Init, so it is safe inside the test process.
    func testLibraryVersionNamesTheLibrary() throws {
        let version = try MPICommunicator.libraryVersion
        XCTAssertTrue(version.contains("MPI"), version)
    }
}
