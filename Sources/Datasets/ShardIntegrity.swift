import Foundation
import HDF5Files

extension ShardDescription {
    static let remedy = "re-create the data set with `discern prepare` (or `discern synth`), or copy the shard back from a good copy"

    /// What the integrity check found: whether the shard carries a checksum, and a disagreement
    /// with dataset.json to report after the structural checks (which say more, e.g. "holds
    /// 6-pixel images": the file's own seal is intact, so libhdf5 may read it).
    struct IntegrityCheck {
        var isSealed: Bool
        var mismatch: DatasetError?
    }

    /// Checks the shard at `path` against its seal and against what dataset.json records, with
    /// plain file I/O, before libhdf5 ever opens it (libhdf5 can loop forever on a zeroed page
    /// and crash on a flipped bit).
    /// A shard without a seal is handed to libhdf5 only with `allowUnsealed`
    /// (DISCERN_READ_UNSEALED=1).
    func verifyIntegrity(at path: String, allowUnsealed: Bool = FileSeal.unsealedReadingAllowed) throws -> IntegrityCheck {
        let status: FileSeal.Status
        do { status = try FileSeal.verify(path, remedy: Self.remedy) } catch {
            throw DatasetError(file: path, (error as? FileSealError)?.problem ?? "\(error)")
        }
        switch status {
        case .notHDF5:
            return IntegrityCheck(isSealed: false, mismatch: nil)   // libhdf5 refuses it at once; ShardInput says why
        case .unsealed:
            guard crc32 == nil else {
                throw DatasetError(file: path, "dataset.json records the checksum \(crc32!) but the shard carries none: it was "
                                   + "replaced by another file; \(Self.remedy)")
            }
            guard allowUnsealed else {
                throw DatasetError(file: path, "carries no checksum seal (a format 1 shard, written before checksums), so its bytes "
                                   + "cannot be verified and it is not opened; \(Self.remedy), or, if you trust it, run the command "
                                   + "again with \(FileSeal.unsealedVariable)=1")
            }
            return IntegrityCheck(isSealed: false, mismatch: nil)
        case .sealed(let seal):
            guard let crc32, let bytes, crc32 != seal.crc32Hex || bytes != seal.fileBytes else {
                return IntegrityCheck(isSealed: true, mismatch: nil)
            }
            return IntegrityCheck(isSealed: true, mismatch: DatasetError(
                file: path, "checksum mismatch: dataset.json records crc32 \(crc32) and \(bytes) bytes, the shard holds crc32 "
                    + "\(seal.crc32Hex) and \(seal.fileBytes) bytes: it belongs to another data set or was rewritten; \(Self.remedy)"))
        }
    }
}
