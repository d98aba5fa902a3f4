// The build's commit, date and compiler: these weak definitions answer "unknown", and the
// launchers (launch/dist) link one more object file that defines the same functions with the
// values from git and `swift --version` (an ordinary, strong definition wins over a weak one).
// The values come in at link time rather than as `-Xcc -D` macros because a flag given to
// `swift build` reaches every target's compile command: a new commit would rebuild the package.
#include "build_info.h"

__attribute__((weak)) const char *discern_build_commit(void) { return "unknown"; }
__attribute__((weak)) const char *discern_build_date(void) { return "unknown"; }
__attribute__((weak)) const char *discern_build_compiler(void) { return "unknown"; }

#if defined(__linux__)
#define _GNU_SOURCE
#include <link.h>
#include <string.h>

static int names_swift_core(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size; (void)data;
    return info->dlpi_name != NULL && strstr(info->dlpi_name, "libswiftCore.so") != NULL;
}

// Asked of the loaded objects rather than told by the launcher, so a plain build answers too.
int discern_swift_runtime_is_static(void) { return dl_iterate_phdr(names_swift_core, NULL) == 0; }
#else
// Elsewhere (macOS) the Swift runtime is part of the operating system: always shared.
int discern_swift_runtime_is_static(void) { return 0; }
#endif
