#ifndef MAGFLEET_CHDF5_SHIM_H
#define MAGFLEET_CHDF5_SHIM_H
// HDF5 spells its type ids and property defaults as macros that expand to a library call
// plus a global (H5T_NATIVE_FLOAT is `(H5open(), H5T_NATIVE_FLOAT_g)`): Swift cannot import
// those, so each one is a function here.
#include <hdf5.h>
#include <linux/memfd.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline hid_t magfleet_H5P_DEFAULT(void) { return H5P_DEFAULT; }
static inline hid_t magfleet_H5FD_SEC2(void) { return H5FD_SEC2; }
static inline hid_t magfleet_H5S_ALL(void) { return H5S_ALL; }
static inline hid_t magfleet_H5E_DEFAULT(void) { return H5E_DEFAULT; }
static inline hsize_t magfleet_H5S_UNLIMITED(void) { return H5S_UNLIMITED; }
static inline size_t magfleet_H5T_VARIABLE(void) { return H5T_VARIABLE; }

static inline unsigned magfleet_H5F_ACC_RDONLY(void) { return H5F_ACC_RDONLY; }
static inline unsigned magfleet_H5F_ACC_RDWR(void) { return H5F_ACC_RDWR; }
static inline unsigned magfleet_H5F_ACC_TRUNC(void) { return H5F_ACC_TRUNC; }
static inline unsigned magfleet_H5F_ACC_EXCL(void) { return H5F_ACC_EXCL; }

static inline hid_t magfleet_H5P_FILE_CREATE(void) { return H5P_FILE_CREATE; }
static inline hid_t magfleet_H5P_FILE_ACCESS(void) { return H5P_FILE_ACCESS; }
static inline hid_t magfleet_H5P_DATASET_CREATE(void) { return H5P_DATASET_CREATE; }
static inline hid_t magfleet_H5P_DATASET_XFER(void) { return H5P_DATASET_XFER; }
static inline hid_t magfleet_H5P_LINK_CREATE(void) { return H5P_LINK_CREATE; }

static inline hid_t magfleet_H5T_NATIVE_FLOAT(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t magfleet_H5T_NATIVE_DOUBLE(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t magfleet_H5T_NATIVE_INT8(void) { return H5T_NATIVE_INT8; }
static inline hid_t magfleet_H5T_NATIVE_UINT8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t magfleet_H5T_NATIVE_INT32(void) { return H5T_NATIVE_INT32; }
static inline hid_t magfleet_H5T_NATIVE_INT64(void) { return H5T_NATIVE_INT64; }
static inline hid_t magfleet_H5T_NATIVE_UINT64(void) { return H5T_NATIVE_UINT64; }
static inline hid_t magfleet_H5T_IEEE_F32LE(void) { return H5T_IEEE_F32LE; }
static inline hid_t magfleet_H5T_IEEE_F64LE(void) { return H5T_IEEE_F64LE; }
static inline hid_t magfleet_H5T_STD_I64LE(void) { return H5T_STD_I64LE; }
static inline hid_t magfleet_H5T_STD_U8LE(void) { return H5T_STD_U8LE; }
static inline hid_t magfleet_H5T_C_S1(void) { return H5T_C_S1; }

/// Stops HDF5 printing its error stack to stderr; wrappers read it with H5Ewalk2 instead.
static inline herr_t magfleet_H5_silence_errors(void) { return H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/// The library's version as major*10000 + minor*100 + release.
static inline int magfleet_H5_version(void) {
    unsigned maj = 0, min = 0, rel = 0;
    if (H5get_libversion(&maj, &min, &rel) < 0) return -1;
    return (int)(maj * 10000 + min * 100 + rel);
}
static inline hid_t magfleet_H5T_STD_I32LE(void) { return H5T_STD_I32LE; }
static inline hid_t magfleet_H5T_NATIVE_CHAR(void) { return H5T_NATIVE_CHAR; }
static inline hsize_t magfleet_H5F_UNLIMITED_SIZE(void) { return H5S_UNLIMITED; }

/// Frees the memory HDF5 allocated while reading variable-length data (strings) into `buf`.
static inline herr_t magfleet_H5_reclaim(hid_t type_id, hid_t space_id, void *buf) {
#if H5_VERSION_GE(1, 12, 0)
    return H5Treclaim(type_id, space_id, H5P_DEFAULT, buf);
#else
    return H5Dvlen_reclaim(type_id, space_id, H5P_DEFAULT, buf);
#endif
}

/// A callback for H5Ewalk2 that appends "function: description" lines to a caller buffer
/// (a C string builder owned by Swift through `client_data`).
typedef void (*magfleet_error_sink)(const char *function, const char *description, void *context);
struct magfleet_error_walk { magfleet_error_sink sink; void *context; };
static inline herr_t magfleet_error_walker(unsigned n, const H5E_error2_t *err, void *client) {
    (void)n;
    struct magfleet_error_walk *walk = (struct magfleet_error_walk *)client;
    walk->sink(err->func_name ? err->func_name : "?", err->desc ? err->desc : "", walk->context);
    return 0;
}
/// Walks the default error stack from the innermost call outward, then clears it.
static inline void magfleet_H5_walk_errors(magfleet_error_sink sink, void *context) {
    struct magfleet_error_walk walk = { sink, context };
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, magfleet_error_walker, &walk);
    H5Eclear2(H5E_DEFAULT);
}

/// An anonymous in-memory file (memfd_create, which glibc declares only under _GNU_SOURCE), or
/// -1 with errno set. `HDF5File.discard` points an abandoned file's descriptor at one.
static inline int magfleet_memfd_create(const char *name) {
    return (int)syscall(SYS_memfd_create, name, MFD_CLOEXEC);
}
#endif
