import CHDF5

/// Moving Swift strings in and out of HDF5 string types, shared by datasets and attributes.
enum H5Strings {
    /// A new variable-length UTF-8 string type, the type strings are always written with
    /// (what h5py writes for `str` too).
    static func variableUTF8Type(_ site: H5Site) throws -> H5Handle {
        let type = try site.handle(H5Tcopy(discern_h5t_c_s1()), .datatype, "cannot copy the C string type")
        try site.check(H5Tset_size(type.id, discern_h5t_variable()), "cannot make a variable-length string type")
        try site.check(H5Tset_cset(type.id, H5T_CSET_UTF8), "cannot set the UTF-8 character set")
        return type
    }

    /// A name HDF5 copies out in two calls (length first, then text), as the H5*get_name* family does.
    static func name(_ site: H5Site, _ what: @autoclosure () -> String,
                     _ get: (UnsafeMutablePointer<CChar>?, Int) -> Int) throws -> String {
        let length = get(nil, 0)
        try site.check(length < 0 ? -1 : 0, "cannot read \(what())")
        var buffer = [CChar](repeating: 0, count: length + 1)
        try site.check(get(&buffer, buffer.count) < 0 ? -1 : 0, "cannot read \(what())")
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// Calls `body` with one C string pointer per string, all valid during the call.
    /// A string with an embedded NUL is rejected: HDF5 would silently cut it there.
    static func withCStrings<R>(_ strings: [String], _ site: H5Site,
                                _ body: (UnsafeBufferPointer<UnsafePointer<CChar>?>) throws -> R) throws -> R {
        var bytes: [CChar] = []
        var offsets: [Int] = []
        offsets.reserveCapacity(strings.count)
        for (index, string) in strings.enumerated() {
            if string.utf8.contains(0) {
                throw site.error(.invalidArgument, "string \(index) contains a NUL character, which HDF5 "
                                 + "strings cannot hold; remove it or store the bytes as a uint8 dataset")
            }
            offsets.append(bytes.count)
            bytes.append(contentsOf: string.utf8.map { CChar(bitPattern: $0) })
            bytes.append(0)
        }
        return try bytes.withUnsafeBufferPointer { base in
            let pointers: [UnsafePointer<CChar>?] = offsets.map { base.baseAddress! + $0 }
            return try pointers.withUnsafeBufferPointer(body)
        }
    }

    /// Reads `count` strings stored with `fileType` (variable or fixed length). `memSpace`
    /// describes the destination; `read(memoryType, buffer)` performs the H5Dread/H5Aread.
    static func read(count: Int, fileType: hid_t, memSpace: hid_t, _ site: H5Site,
                     _ read: (hid_t, UnsafeMutableRawPointer) -> herr_t) throws -> [String] {
        guard count > 0 else { return [] }
        if H5Tis_variable_str(fileType) > 0 {
            return try readVariable(count: count, fileType: fileType, memSpace: memSpace, site, read)
        }
        return try readFixed(count: count, fileType: fileType, site, read)
    }

    private static func readVariable(count: Int, fileType: hid_t, memSpace: hid_t, _ site: H5Site,
                                     _ read: (hid_t, UnsafeMutableRawPointer) -> herr_t) throws -> [String] {
        let memoryType = try site.handle(H5Tcopy(discern_h5t_c_s1()), .datatype, "cannot copy the C string type")
        defer { memoryType.close() }
        try site.check(H5Tset_size(memoryType.id, discern_h5t_variable()), "cannot make a string type")
        // Keep the stored character set: HDF5 does not convert between ASCII and UTF-8.
        try site.check(H5Tset_cset(memoryType.id, H5Tget_cset(fileType)), "cannot set the character set")
        var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
        return try pointers.withUnsafeMutableBytes { raw in
            try site.check(read(memoryType.id, raw.baseAddress!), "cannot read strings")
            defer { _ = H5Dvlen_reclaim(memoryType.id, memSpace, discern_h5p_default(), raw.baseAddress!) }
            return raw.bindMemory(to: UnsafeMutablePointer<CChar>?.self).map { pointer in
                pointer.map { String(cString: $0) } ?? ""
            }
        }
    }

    private static func readFixed(count: Int, fileType: hid_t, _ site: H5Site,
                                  _ read: (hid_t, UnsafeMutableRawPointer) -> herr_t) throws -> [String] {
        let memoryType = try site.handle(H5Tcopy(fileType), .datatype, "cannot copy the string type")
        defer { memoryType.close() }
        let width = H5Tget_size(fileType)
        let spacePadded = H5Tget_strpad(fileType) == H5T_STR_SPACEPAD
        var bytes = [UInt8](repeating: 0, count: count * width)
        try bytes.withUnsafeMutableBytes { raw in
            try site.check(read(memoryType.id, raw.baseAddress!), "cannot read fixed-length strings")
        }
        return (0..<count).map { index in
            var element = bytes[(index * width)..<((index + 1) * width)]
            if let end = element.firstIndex(of: 0) { element = element[..<end] }
            if spacePadded { while element.last == UInt8(ascii: " ") { element = element.dropLast() } }
            return String(decoding: element, as: UTF8.self)
        }
    }
}
