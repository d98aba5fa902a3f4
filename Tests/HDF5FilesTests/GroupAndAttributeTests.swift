import Foundation
import HDF5Files
import XCTest

final class GroupAndAttributeTests: TemporaryDirectoryTestCase {
    func testIntermediateGroupsListingExistenceAndKinds() throws {
        let file = try H5File.create(path("groups.h5"))
        try file.write([Float](repeating: 1, count: 4), to: "/model/layers/0/weight")
        try file.write([Float](repeating: 2, count: 4), to: "/model/layers/1/weight")
        try file.createGroup("optimizer/state")
        let layers = try file.openGroup("model/layers")
        try layers.write([Int64(3)], to: "count")
        try layers.write([Int64(4)], to: "/top")  // absolute from a subgroup lands at the root

        XCTAssertEqual(try file.memberNames(), ["model", "optimizer", "top"])
        XCTAssertEqual(try layers.memberNames(), ["0", "1", "count"])
        XCTAssertEqual(layers.objectPath, "/model/layers")
        XCTAssertEqual(try layers.openDataset("1/weight").objectPath, "/model/layers/1/weight")
        XCTAssertEqual(try file.openGroup("optimizer/state").memberNames(), [])

        XCTAssertTrue(try file.exists("/model/layers/0/weight"))
        XCTAssertTrue(try layers.exists("0/weight"))
        XCTAssertTrue(try file.exists("/"))
        XCTAssertFalse(try file.exists("/model/layers/2/weight"))
        XCTAssertFalse(try file.exists("/missing/deeper/still"))
        XCTAssertFalse(try file.exists("/top/inside-a-dataset"))

        XCTAssertEqual(try file.objectKind("model/layers"), .group)
        XCTAssertEqual(try file.objectKind("model/layers/0/weight"), .dataset)
        XCTAssertNil(try file.objectKind("nothing"))

        let reopened = try file.openOrCreateGroup("model")
        XCTAssertEqual(try reopened.memberNames(), ["layers"])
        XCTAssertEqual(try file.openOrCreateGroup("fresh/group").objectPath, "/fresh/group")
        try file.close()

        let reader = try H5File.open(path("groups.h5"))
        XCTAssertEqual(try reader.read("model/layers/1/weight", as: Float.self).values, [2, 2, 2, 2])
        XCTAssertTrue(try reader.exists("fresh/group"))
    }

    func testAttributesOfEveryTypeOnFileGroupAndDataset() throws {
        let values: [String: H5AttributeValue] = [
            "name": .string("discern run \u{2014} 🐈"),
            "empty": .string(""),
            "step": .int64(-9_000_000_000),
            "learning_rate": .double(3e-4),
            "shape": .int64Array([4096, 11008]),
            "no_ints": .int64Array([]),
            "betas": .doubleArray([0.9, 0.999, -.infinity]),
            "no_doubles": .doubleArray([]),
            // Larger than the 64 KiB compact attribute limit of the oldest file format.
            "big": .doubleArray((0..<20_000).map { Double($0) * 0.5 }),
        ]
        let file = try H5File.create(path("attributes.h5"))
        let group = try file.createGroup("g")
        let dataset = try group.write([UInt8](repeating: 0, count: 3), to: "d")
        for object in [file, group, dataset] as [H5Object] {
            for (name, value) in values { try object.setAttribute(name, value) }
        }
        try group.setAttribute("step", .int64(7))  // replacing an attribute changes its value
        try file.close()

        let reader = try H5File.open(path("attributes.h5"))
        let objects: [H5Object] = [reader, try reader.openGroup("g"), try reader.openDataset("g/d")]
        for object in objects {
            XCTAssertEqual(try object.attributeNames(), values.keys.sorted(), object.objectPath)
            for (name, value) in values where !(name == "step" && object.objectPath == "/g") {
                XCTAssertEqual(try object.attribute(name), value, "\(object.objectPath) @\(name)")
            }
        }
        let group2 = objects[1]
        XCTAssertEqual(try group2.int64Attribute("step"), 7)
        XCTAssertEqual(try reader.stringAttribute("name"), "discern run \u{2014} 🐈")
        XCTAssertEqual(try reader.stringAttribute("empty"), "")
        XCTAssertEqual(try reader.doubleAttribute("learning_rate"), 3e-4)
        XCTAssertEqual(try reader.int64ArrayAttribute("shape"), [4096, 11008])
        XCTAssertEqual(try reader.doubleArrayAttribute("betas"), [0.9, 0.999, -.infinity])
        XCTAssertTrue(try reader.hasAttribute("big"))
        XCTAssertFalse(try reader.hasAttribute("absent"))
    }

    func testAttributeErrorsNameTheAttributeAndTypes() throws {
        let file = try H5File.create(path("attribute-errors.h5"))
        try file.setAttribute("step", .int64(1))
        let wrong = hdf5Error("string getter on an int64") { _ = try file.stringAttribute("step") }
        XCTAssertEqual(wrong?.kind, .typeMismatch)
        XCTAssertTrue(wrong?.description.contains("'step'") ?? false, wrong?.description ?? "")
        XCTAssertTrue(wrong?.description.contains("int64") ?? false, wrong?.description ?? "")
        let missing = hdf5Error("missing attribute") { _ = try file.attribute("epoch") }
        XCTAssertEqual(missing?.kind, .objectNotFound)
        XCTAssertTrue(missing?.description.contains("'epoch'") ?? false, missing?.description ?? "")
        XCTAssertTrue(missing?.description.contains("step") ?? false, "should list present attributes")
    }
}
