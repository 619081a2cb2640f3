/* Writes a 4-component JPEG (CMYK or YCCK, with libjpeg's Adobe marker) from raw CMYK bytes.
 * Built and run by gen_images.py only (OpenCV cannot write CMYK JPEGs).
 *   cmyk_jpeg WIDTH HEIGHT cmyk|ycck IN.raw OUT.jpg */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>

int main(int argc, char **argv) {
    if (argc != 6) { fprintf(stderr, "usage: cmyk_jpeg W H cmyk|ycck in.raw out.jpg\n"); return 2; }
    int w = atoi(argv[1]), h = atoi(argv[2]);
    FILE *in = fopen(argv[4], "rb");
    if (!in) return 1;
    unsigned char *buf = malloc((size_t)w * h * 4);
    if (fread(buf, 1, (size_t)w * h * 4, in) != (size_t)w * h * 4) return 1;
    fclose(in);
    FILE *out = fopen(argv[5], "wb");
    if (!out) return 1;
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, out);
    c.image_width = w; c.image_height = h; c.input_components = 4; c.in_color_space = JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_colorspace(&c, strcmp(argv[3], "ycck") == 0 ? JCS_YCCK : JCS_CMYK);
    jpeg_set_quality(&c, 90, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = buf + (size_t)c.next_scanline * w * 4;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(out);
    free(buf);
    return 0;
}
