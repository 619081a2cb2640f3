#ifndef MAGFLEET_CJPEG_ENCODE_H
#define MAGFLEET_CJPEG_ENCODE_H
// JPEG encoding for the built-in demo's synthetic faces. Same setjmp shim as the decoder.
#include "shim.h"
#include <stdlib.h>

/// Encodes interleaved 8-bit BGR (width*height*3) as a baseline JPEG (4:2:0, ISLOW).
/// On success returns 0 and sets *out / *out_size to a malloc'd buffer the caller frees with
/// magfleet_jpeg_free. Returns -1 with `message` filled on failure.
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
        JSAMPROW row = (JSAMPROW)(bgr + (size_t)cinfo.next_scanline * width * 3);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    return 0;
}

static inline void magfleet_jpeg_free(unsigned char *buffer) { free(buffer); }
#endif
