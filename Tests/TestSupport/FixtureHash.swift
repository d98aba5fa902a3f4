/// FNV-1a 64 as lowercase hex, the hash the Python fixture generators record for image bytes
/// (Tests/Reference/make_image_fixtures.py `fnv1a64`).
package func fnv1a64(_ bytes: [UInt8]) -> String {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
    let hex = String(hash, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
}
