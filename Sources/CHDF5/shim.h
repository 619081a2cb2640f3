#ifndef MAGFLEET_CHDF5_SHIM_H
#define MAGFLEET_CHDF5_SHIM_H
// HDF5 spells its type ids and property defaults as macros that expand to a library call
// plus a global (H5T_NATIVE_FLOAT is `(H5open(), H5T_NATIVE_FLOAT_g)`): Swift cannot import
// those, so each one is a function here.
#include <hdf5.h>

static inline hid_t magfleet_H5P_DEFAULT(void) { return H5P_DEFAULT; }
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
#endif
