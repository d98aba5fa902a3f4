#ifndef DISCERN_BUILD_INFO_H
#define DISCERN_BUILD_INFO_H
// What the binary knows about its own build, for `discern --version`, metrics.jsonl and
// checkpoint attributes (Sources/Provenance).

/// The git commit the binary was built from ("unknown" in a plain `swift build`), with
/// "-modified" when tracked files differed from it.
const char *discern_build_commit(void);
/// When it was built, UTC, ISO 8601 ("unknown" in a plain `swift build`).
const char *discern_build_date(void);
/// The compiler's `swift --version` first line ("unknown" in a plain `swift build`).
const char *discern_build_compiler(void);
/// 1 when the Swift runtime is linked into the executable (`--static-swift-stdlib`), 0 when
/// it is loaded from the toolchain's libswiftCore.so.
int discern_swift_runtime_is_static(void);
#endif
