#ifndef DISCERN_CARCHIVE_SHIM_H
#define DISCERN_CARCHIVE_SHIM_H
// libarchive reads webdataset tar shards (Sources/DataImport/TarReader.swift).
#include <archive.h>
#include <archive_entry.h>

// AE_IFREG is a cast macro Swift cannot import.
static inline int discern_archive_entry_is_regular(struct archive_entry *entry) {
    return archive_entry_filetype(entry) == AE_IFREG;
}
// The file type of a regular file, for the tests' tar writer.
static inline int discern_archive_regular_file_type(void) { return AE_IFREG; }
static inline int discern_archive_entry_is_directory(struct archive_entry *entry) {
    return archive_entry_filetype(entry) == AE_IFDIR;
}
#endif
