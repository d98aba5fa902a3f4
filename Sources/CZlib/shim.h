#ifndef DISCERN_CZLIB_SHIM_H
#define DISCERN_CZLIB_SHIM_H
// zlib's crc32 checksums the HDF5 files Discern writes (see Sources/HDF5Files/FileSeal.swift).
#include <zlib.h>
#endif
