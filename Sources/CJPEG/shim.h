#ifndef MAGFLEET_CJPEG_SHIM_H
#define MAGFLEET_CJPEG_SHIM_H
// libjpeg reports fatal errors by calling error_exit, which must not return: the only way
// out is longjmp. Swift cannot call setjmp, so every libjpeg call that can fail runs inside
// these C functions, which turn the longjmp into a return code plus libjpeg's own message.
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <jpeglib.h>

#define MAGFLEET_JPEG_MESSAGE_MAX 200

typedef struct {
    int width;
    int height;
    int components;      // components in the file: 1 gray, 3 YCbCr/RGB, 4 CMYK/YCCK
    int color_space;     // J_COLOR_SPACE of the file
    int saw_adobe_marker;
} magfleet_jpeg_info;

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    int warnings;
    char message[JMSG_LENGTH_MAX];
} magfleet_jpeg_error;

static void magfleet_jpeg_error_exit(j_common_ptr cinfo) {
    magfleet_jpeg_error *err = (magfleet_jpeg_error *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, err->message);
    longjmp(err->jump, 1);
}

static void magfleet_jpeg_emit_message(j_common_ptr cinfo, int level) {
    // level < 0 is a warning (corrupt data, premature end of data); keep the first one.
    if (level < 0) {
        magfleet_jpeg_error *err = (magfleet_jpeg_error *)cinfo->err;
        if (err->warnings == 0) (*cinfo->err->format_message)(cinfo, err->message);
        err->warnings++;
    }
}

static inline void magfleet_jpeg_copy_message(const char *src, char *dst, size_t cap) {
    if (dst == NULL || cap == 0) return;
    strncpy(dst, src, cap - 1);
    dst[cap - 1] = 0;
}

/// Reads only the header. Returns 0 on success, -1 with `message` filled on failure.
static inline int magfleet_jpeg_read_header(const unsigned char *data, size_t size,
                                            magfleet_jpeg_info *info,
                                            char *message, size_t message_cap) {
    struct jpeg_decompress_struct cinfo;
    magfleet_jpeg_error jerr;
    memset(&jerr, 0, sizeof(jerr));
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = magfleet_jpeg_error_exit;
    jerr.pub.emit_message = magfleet_jpeg_emit_message;
    if (setjmp(jerr.jump)) {
        magfleet_jpeg_copy_message(jerr.message, message, message_cap);
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    info->width = (int)cinfo.image_width;
    info->height = (int)cinfo.image_height;
    info->components = cinfo.num_components;
    info->color_space = (int)cinfo.jpeg_color_space;
    info->saw_adobe_marker = cinfo.saw_Adobe_marker;
    jpeg_destroy_decompress(&cinfo);
    return 0;
}

/// Decodes to interleaved 8-bit BGR, the way OpenCV's cv2.imread(IMREAD_COLOR) asks libjpeg:
/// JCS_EXT_BGR output for 1- and 3-component files (ISLOW DCT, fancy upsampling: the
/// defaults), JCS_CMYK for 4-component files, then OpenCV's inverted-CMYK to BGR formula.
/// `out` holds width*height*3 bytes. With `warnings_are_errors`, a libjpeg warning (such as
/// "Premature end of JPEG file") fails the decode. Returns 0, or -1 with `message` filled.
static inline int magfleet_jpeg_decode_bgr(const unsigned char *data, size_t size,
                                           unsigned char *out, int expect_width,
                                           int expect_height, int warnings_are_errors,
                                           char *message, size_t message_cap) {
    struct jpeg_decompress_struct cinfo;
    magfleet_jpeg_error jerr;
    JSAMPARRAY row = NULL;
    memset(&jerr, 0, sizeof(jerr));
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = magfleet_jpeg_error_exit;
    jerr.pub.emit_message = magfleet_jpeg_emit_message;
    if (setjmp(jerr.jump)) {
        magfleet_jpeg_copy_message(jerr.message, message, message_cap);
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    if ((int)cinfo.image_width != expect_width || (int)cinfo.image_height != expect_height) {
        magfleet_jpeg_copy_message("header changed between reads", message, message_cap);
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    int cmyk = cinfo.num_components == 4;
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_EXT_BGR;
    jpeg_start_decompress(&cinfo);
    int stride = (int)cinfo.output_width * cinfo.output_components;
    row = (*cinfo.mem->alloc_sarray)((j_common_ptr)&cinfo, JPOOL_IMAGE, (JDIMENSION)stride, 1);
    while (cinfo.output_scanline < cinfo.output_height) {
        unsigned char *dst = out + (size_t)cinfo.output_scanline * cinfo.output_width * 3;
        if (!cmyk) {
            // BGR output lands straight in the caller's buffer, as many rows per call as
            // libjpeg will give (whole iMCU rows avoid its internal spare-row copies).
            JSAMPROW direct[16];
            JDIMENSION want = cinfo.output_height - cinfo.output_scanline;
            if (want > 16) want = 16;
            for (JDIMENSION r = 0; r < want; r++) direct[r] = dst + (size_t)r * cinfo.output_width * 3;
            jpeg_read_scanlines(&cinfo, direct, want);
            continue;
        }
        jpeg_read_scanlines(&cinfo, row, 1);
        if (cmyk) {
            const unsigned char *src = row[0];
            for (JDIMENSION x = 0; x < cinfo.output_width; x++, src += 4, dst += 3) {
                int c = src[0], m = src[1], y = src[2], k = src[3];
                c = k - ((255 - c) * k >> 8);
                m = k - ((255 - m) * k >> 8);
                y = k - ((255 - y) * k >> 8);
                dst[2] = (unsigned char)c; dst[1] = (unsigned char)m; dst[0] = (unsigned char)y;
            }
        } else {
            memcpy(dst, row[0], (size_t)stride);
        }
    }
    jpeg_finish_decompress(&cinfo);
    int warned = jerr.warnings;
    if (warned && warnings_are_errors) {
        magfleet_jpeg_copy_message(jerr.message, message, message_cap);
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    jpeg_destroy_decompress(&cinfo);
    return 0;
}

/// Encodes interleaved 8-bit BGR (`width*height*3` bytes) as a baseline JPEG with libjpeg's
/// defaults (ISLOW DCT, 4:2:0) at `quality`. On success returns 0 and sets `*out` / `*out_size`
/// to a malloc'd buffer that the caller frees with `magfleet_jpeg_free`; -1 with `message` on error.
/// Used by `magfleet images bench` to make its own inputs; never on the decode path.
static inline int magfleet_jpeg_encode_bgr(const unsigned char *bgr, int width, int height,
                                           int quality, unsigned char **out,
                                           unsigned long *out_size,
                                           char *message, size_t message_cap) {
    struct jpeg_compress_struct cinfo;
    magfleet_jpeg_error jerr;
    memset(&jerr, 0, sizeof(jerr));
    *out = NULL;
    *out_size = 0;
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = magfleet_jpeg_error_exit;
    jerr.pub.emit_message = magfleet_jpeg_emit_message;
    if (setjmp(jerr.jump)) {
        magfleet_jpeg_copy_message(jerr.message, message, message_cap);
        jpeg_destroy_compress(&cinfo);
        if (*out) { free(*out); *out = NULL; }
        return -1;
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, out, out_size);
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_EXT_BGR;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(bgr + (size_t)cinfo.next_scanline * (size_t)width * 3);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    return 0;
}

static inline void magfleet_jpeg_free(unsigned char *buffer) { free(buffer); }

static inline int magfleet_jpeg_lib_version(void) { return JPEG_LIB_VERSION; }
#ifdef LIBJPEG_TURBO_VERSION_NUMBER
static inline int magfleet_jpeg_turbo_version_number(void) { return LIBJPEG_TURBO_VERSION_NUMBER; }
#else
static inline int magfleet_jpeg_turbo_version_number(void) { return 0; }
#endif
#endif
