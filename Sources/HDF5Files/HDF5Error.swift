import CHDF5
import Foundation

/// A failed HDF5 operation: what was attempted, on which file and object, why, and the
/// library's own error stack (outermost call first) when HDF5 reported one.
package struct HDF5Error: Error, CustomStringConvertible, LocalizedError, Sendable {
    package enum Kind: String, Sendable {
        case fileNotFound, fileExists, notHDF5, corruptFile, fileClosed, readOnly
        case objectNotFound, objectExists, wrongObjectKind
        case typeMismatch, unsupportedType, shapeMismatch, invalidArgument
        /// Any other failure inside the HDF5 library; `libraryMessages` says what.
        case library
    }

    package let kind: Kind
    /// What was being done, e.g. "open dataset".
    package let operation: String
    package let filePath: String
    /// The object inside the file ("/" for the root group), nil for whole-file operations.
    package let objectPath: String?
    /// Our explanation, with the fix where one is known.
    package let reason: String
    /// HDF5's error stack, API call first, innermost cause last.
    package let libraryMessages: [String]

    package init(kind: Kind, operation: String, filePath: String, objectPath: String?, reason: String,
                libraryMessages: [String] = []) {
        self.kind = kind
        self.operation = operation
        self.filePath = filePath
        self.objectPath = objectPath
        self.reason = reason
        self.libraryMessages = libraryMessages
    }

    package var description: String {
        var text = "HDF5: cannot \(operation) (file '\(filePath)'"
        if let objectPath { text += ", object '\(objectPath)'" }
        text += "): \(reason)"
        if !libraryMessages.isEmpty {
            text += " [HDF5 says: \(libraryMessages.joined(separator: ": "))]"
        }
        return text
    }

    package var errorDescription: String? { description }
}

/// HDF5 keeps one error stack per thread (the library is built thread-safe), so both the
/// switch-off of automatic printing and the capture must happen on the calling thread.
enum ErrorStack {
    /// libhdf5's exit handler closes whatever is still open; after a failed close (a full disk)
    /// 1.10.8 crashes there (SIGSEGV in H5D_close), turning a clean error into signal death.
    /// Discern closes every file itself, so the handler is switched off before the library starts
    /// (every operation passes through here first).
    private static let exitHandlerOff: Void = { _ = H5dont_atexit() }()

    /// Stops HDF5 from printing its stack to stderr; our errors carry the text instead.
    /// Called before every operation because the setting is per thread.
    static func silenceAutomaticPrinting() {
        _ = exitHandlerOff
        _ = H5Eset_auto2(discern_h5e_default(), nil, nil)
    }

    /// The current thread's error descriptions, outermost first, deduplicated; clears the stack.
    static func drain() -> [String] {
        var entries: [String] = []
        withUnsafeMutablePointer(to: &entries) { pointer in
            _ = H5Ewalk2(discern_h5e_default(), discern_h5e_walk_downward(), { _, entry, context in
                guard let entry, let context else { return 0 }
                let list = context.assumingMemoryBound(to: [String].self)
                var text = entry.pointee.desc.map { String(cString: $0) } ?? ""
                if text.isEmpty { text = ErrorStack.message(entry.pointee.min_num) }
                if !text.isEmpty && list.pointee.last != text { list.pointee.append(text) }
                return 0
            }, pointer)
        }
        _ = H5Eclear2(discern_h5e_default())
        return entries
    }

    /// The text HDF5 registered for an error message id ("Not an HDF5 file", ...).
    static func message(_ id: hid_t) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        let length = H5Eget_msg(id, nil, &buffer, buffer.count)
        guard length > 0 else { return "" }
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}

/// Where an operation happens, so every failure names the operation, file and object.
struct H5Site {
    let operation: String
    let filePath: String
    let objectPath: String?

    init(_ operation: String, file filePath: String, object objectPath: String?) {
        self.operation = operation
        self.filePath = filePath
        self.objectPath = objectPath
        ErrorStack.silenceAutomaticPrinting()
    }

    func error(_ kind: HDF5Error.Kind, _ reason: String, library: [String] = []) -> HDF5Error {
        HDF5Error(kind: kind, operation: operation, filePath: filePath, objectPath: objectPath,
                  reason: reason, libraryMessages: library)
    }

    /// A library failure with HDF5's stack attached. A full disk is said plainly instead: its
    /// stack repeats the same write failure once per buffered chunk.
    func libraryError(_ reason: String) -> HDF5Error {
        let library = ErrorStack.drain()
        if library.contains(where: { $0.contains("No space left on device") }) {
            return error(.library, "\(reason): no space left on the device (free some space or write elsewhere)")
        }
        return error(.library, reason, library: library)
    }

    func check(_ status: herr_t, _ reason: @autoclosure () -> String) throws {
        if status < 0 { throw libraryError(reason()) }
    }

    func check(id: hid_t, _ reason: @autoclosure () -> String) throws -> hid_t {
        if id < 0 { throw libraryError(reason()) }
        return id
    }

    func check(tri: htri_t, _ reason: @autoclosure () -> String) throws -> Bool {
        if tri < 0 { throw libraryError(reason()) }
        return tri > 0
    }
}
