import CBuildInfo

/// The binary's build: its version, git commit, build date and configuration, printed by
/// `discern --version` and recorded in metrics.jsonl and every checkpoint, so a result can be
/// traced to the binary that made it. A plain `swift build` says "unknown" for what only the
/// launchers know (commit, date, compiler); the launchers link them in (launch/common.sh, docs/cluster.md).
package struct BuildInfo: Codable, Sendable, Equatable {
    /// Discern's version: raised by hand when a release changes what users see.
    package static let releaseVersion = "0.1.0"

    package var version: String
    package var commit: String
    package var date: String
    /// "release" or "debug": the SwiftPM configuration.
    package var configuration: String
    /// "static" (Swift runtime and Foundation linked in) or "shared" (loaded from the toolchain).
    package var swiftRuntime: String
    package var compiler: String

    enum CodingKeys: String, CodingKey {
        case version, commit, date, configuration, compiler
        case swiftRuntime = "swift_runtime"
    }

    /// This binary's build.
    package static let current = BuildInfo(
        version: releaseVersion, commit: String(cString: discern_build_commit()), date: String(cString: discern_build_date()),
        configuration: compiledConfiguration, swiftRuntime: discern_swift_runtime_is_static() != 0 ? "static" : "shared",
        compiler: String(cString: discern_build_compiler()))

    #if DEBUG
    static let compiledConfiguration = "debug"
    #else
    static let compiledConfiguration = "release"
    #endif

    /// What `discern --version` prints.
    package var versionText: String {
        """
        discern \(version)
          commit         \(commit)
          built          \(date)
          configuration  \(configuration), Swift runtime \(swiftRuntime == "static" ? "linked in (static)" : "shared (from the Swift toolchain)")
          compiler       \(compiler)
        """
    }

    /// The checkpoint attributes (`build_version`, `build_commit`, ...): metadata that readers ignore.
    package var attributes: [(name: String, value: String)] {
        [("build_version", version), ("build_commit", commit), ("build_date", date),
         ("build_configuration", "\(configuration), \(swiftRuntime) Swift runtime"), ("build_compiler", compiler)]
    }
}
