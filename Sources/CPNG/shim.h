#ifndef MAGFLEET_CPNG_SHIM_H
#define MAGFLEET_CPNG_SHIM_H
// libpng reports errors by longjmp to png_jmpbuf. Swift cannot call setjmp, so the decode
// runs inside this C function and comes back as a return code plus libpng's message.
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <png.h>

#define MAGFLEET_PNG_MESSAGE_MAX 200

typedef struct {
    int width;
    int height;
    int bit_depth;
    int color_type;
    int interlaced;
} magfleet_png_info;

typedef struct {
    const unsigned char *data;
    size_t size;
    size_t offset;
    char message[MAGFLEET_PNG_MESSAGE_MAX];
    int warnings;
} magfleet_png_source;

static void magfleet_png_read(png_structp png, png_bytep out, png_size_t length) {
    magfleet_png_source *src = (magfleet_png_source *)png_get_io_ptr(png);
    if (length > src->size - src->offset) png_error(png, "Read Error: truncated PNG data");
    memcpy(out, src->data + src->offset, length);
    src->offset += length;
}

static void magfleet_png_error(png_structp png, png_const_charp msg) {
    magfleet_png_source *src = (magfleet_png_source *)png_get_error_ptr(png);
    strncpy(src->message, msg, MAGFLEET_PNG_MESSAGE_MAX - 1);
    src->message[MAGFLEET_PNG_MESSAGE_MAX - 1] = 0;
    png_longjmp(png, 1);
}

static void magfleet_png_warning(png_structp png, png_const_charp msg) {
    magfleet_png_source *src = (magfleet_png_source *)png_get_error_ptr(png);
    (void)msg;
    src->warnings++;
}

/// Reads the header, or decodes to 8-bit BGR when `out` is non-NULL (width*height*3 bytes).
/// The conversions follow OpenCV's PngDecoder for cv2.imread(IMREAD_COLOR): 16-bit is
/// stripped to its high byte, alpha is dropped (not composited), palettes and low-depth
/// gray are expanded, gray becomes three equal channels, interlacing is handled.
/// Returns 0, or -1 with `message` filled.
static inline int magfleet_png_decode(const unsigned char *data, size_t size,
                                      magfleet_png_info *info, unsigned char *out,
                                      char *message, size_t message_cap) {
    magfleet_png_source src;
    memset(&src, 0, sizeof(src));
    src.data = data;
    src.size = size;
    png_structp png = NULL;
    png_infop pinfo = NULL;
    png_bytep *rows = NULL;
    if (size < 8 || png_sig_cmp(data, 0, 8) != 0) {
        if (message && message_cap) { strncpy(message, "not a PNG signature", message_cap - 1); message[message_cap - 1] = 0; }
        return -1;
    }
    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, magfleet_png_error, magfleet_png_warning);
    if (!png) return -1;
    pinfo = png_create_info_struct(png);
    if (!pinfo) { png_destroy_read_struct(&png, NULL, NULL); return -1; }
    if (setjmp(png_jmpbuf(png))) {
        if (message && message_cap) { strncpy(message, src.message, message_cap - 1); message[message_cap - 1] = 0; }
        if (rows) free(rows);
        png_destroy_read_struct(&png, &pinfo, NULL);
        return -1;
    }
    png_set_read_fn(png, &src, magfleet_png_read);
    png_read_info(png, pinfo);
    png_uint_32 w = 0, h = 0;
    int depth = 0, color = 0, interlace = 0;
    png_get_IHDR(png, pinfo, &w, &h, &depth, &color, &interlace, NULL, NULL);
    info->width = (int)w;
    info->height = (int)h;
    info->bit_depth = depth;
    info->color_type = color;
    info->interlaced = interlace != PNG_INTERLACE_NONE;
    if (out == NULL) {
        png_destroy_read_struct(&png, &pinfo, NULL);
        return 0;
    }
    if (depth == 16) png_set_strip_16(png);
    png_set_strip_alpha(png);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if ((color & PNG_COLOR_MASK_COLOR) == 0 && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (color & PNG_COLOR_MASK_COLOR) png_set_bgr(png);
    else png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, pinfo);
    if (png_get_rowbytes(png, pinfo) != (size_t)w * 3) png_error(png, "unexpected row size after conversion");
    rows = (png_bytep *)malloc(sizeof(png_bytep) * h);
    if (!rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++) rows[y] = out + (size_t)y * w * 3;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    free(rows);
    rows = NULL;
    png_destroy_read_struct(&png, &pinfo, NULL);
    return 0;
}

static inline unsigned int magfleet_png_version(void) { return (unsigned int)png_access_version_number(); }
#endif
