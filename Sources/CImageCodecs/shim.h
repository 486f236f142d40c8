// Image and compression libraries from Debian: libjpeg-turbo (TurboJPEG API), libpng, zlib.
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>
#include <png.h>
#include <zlib.h>

// libpng's simplified API through two small functions, so that Swift sees neither setjmp nor
// the PNG_IMAGE_* macros. Both return 0 on success and fill `message` otherwise.

// Starts reading PNG bytes into `image`; 0 on success.
static inline int cimg_png_begin(png_image *image, const void *data, size_t size, char message[64]) {
    memset(image, 0, sizeof *image);
    image->version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(image, data, size)) {
        strncpy(message, image->message, 63); message[63] = 0;
        return 1;
    }
    return 0;
}

// Decodes PNG bytes to 8-bit grey (channels 1) or RGB (channels 3), into a malloc'd buffer.
static inline int cimg_png_decode(const void *data, size_t size, int channels, unsigned char **pixels,
                                  int *width, int *height, char message[64]) {
    png_image image;
    if (cimg_png_begin(&image, data, size, message)) return 1;
    image.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    size_t bytes = (size_t)image.width * image.height * (size_t)channels;
    unsigned char *buffer = (unsigned char *)malloc(bytes ? bytes : 1);
    if (!buffer) { png_image_free(&image); strcpy(message, "out of memory"); return 1; }
    if (!png_image_finish_read(&image, NULL, buffer, 0, NULL)) {
        strncpy(message, image.message, 63); message[63] = 0;
        free(buffer);
        return 1;
    }
    *pixels = buffer;
    *width = (int)image.width;
    *height = (int)image.height;
    return 0;
}

// Writes `pixels` (`width` x `height` in libpng's `format`) as PNG into a malloc'd buffer;
// a colour-mapped format takes its 256 entries from `colormap`. The first call sizes the
// buffer, the second fills it.
static inline int cimg_png_write(png_uint_32 format, int width, int height, const void *pixels, const void *colormap,
                                 unsigned char **out, size_t *out_size, char message[64]) {
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.width = (png_uint_32)width;
    image.height = (png_uint_32)height;
    image.format = format;
    if (colormap) image.colormap_entries = 256;
    png_alloc_size_t size = 0;
    if (!png_image_write_to_memory(&image, NULL, &size, 0, pixels, 0, colormap)) {
        strncpy(message, image.message, 63); message[63] = 0;
        return 1;
    }
    unsigned char *buffer = (unsigned char *)malloc(size);
    if (!buffer) { strcpy(message, "out of memory"); return 1; }
    if (!png_image_write_to_memory(&image, buffer, &size, 0, pixels, 0, colormap)) {
        strncpy(message, image.message, 63); message[63] = 0;
        free(buffer);
        return 1;
    }
    *out = buffer;
    *out_size = size;
    return 0;
}

// Encodes 8-bit grey or RGB pixels as PNG into a malloc'd buffer.
static inline int cimg_png_encode(const unsigned char *pixels, int width, int height, int channels,
                                  unsigned char **out, size_t *out_size, char message[64]) {
    return cimg_png_write(channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB, width, height, pixels, NULL, out, out_size, message);
}

// Segmentation masks store a class per pixel as a palette index (Pascal VOC) or a grey level
// (ADE20K): read those stored values as they are, one byte per pixel, with libpng's low-level
// API (the simplified one may rebuild a palette and renumber it). 0 on success.
struct cimg_png_source { const unsigned char *bytes; size_t left; };

static void cimg_png_read_memory(png_structp png, png_bytep out, png_size_t count) {
    struct cimg_png_source *source = (struct cimg_png_source *)png_get_io_ptr(png);
    if (count > source->left) png_error(png, "truncated PNG");
    memcpy(out, source->bytes, count);
    source->bytes += count;
    source->left -= count;
}

// libpng's errors go into the caller's message instead of stderr; warnings are dropped.
static void cimg_png_error(png_structp png, png_const_charp text) {
    char *message = (char *)png_get_error_ptr(png);
    if (!message[0]) { strncpy(message, text, 63); message[63] = 0; }
    png_longjmp(png, 1);
}

static void cimg_png_warning(png_structp png, png_const_charp text) { (void)png; (void)text; }

static inline int cimg_png_decode_indices(const void *data, size_t size, unsigned char **pixels,
                                          int *width, int *height, char message[64]) {
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, message, cimg_png_error, cimg_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) { png_destroy_read_struct(&png, NULL, NULL); strcpy(message, "out of memory"); return 1; }
    unsigned char *volatile buffer = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(buffer); free(rows);
        if (!message[0]) strcpy(message, "not a readable PNG");
        return 1;
    }
    struct cimg_png_source source = { (const unsigned char *)data, size };
    png_set_read_fn(png, &source, cimg_png_read_memory);
    png_read_info(png, info);
    int type = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (type != PNG_COLOR_TYPE_PALETTE && type != PNG_COLOR_TYPE_GRAY) {
        strcpy(message, "a mask must be a palette or grey PNG, not colour");
        png_error(png, "colour");
    }
    if (depth == 16) { strcpy(message, "16-bit masks are not read: save labels as 8-bit"); png_error(png, "16-bit"); }
    if (depth < 8) png_set_packing(png);  // one byte per pixel, values unchanged
    png_read_update_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    buffer = (unsigned char *)malloc((size_t)w * h + 1);
    rows = (png_bytep *)malloc(sizeof(png_bytep) * (h + 1));
    if (!buffer || !rows) { strcpy(message, "out of memory"); png_error(png, "memory"); }
    for (png_uint_32 y = 0; y < h; y++) rows[y] = buffer + (size_t)y * w;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    *pixels = buffer;
    *width = (int)w;
    *height = (int)h;
    return 0;
}

// Writes one byte per pixel as an 8-bit palette PNG with `palette` (256 RGB entries): a mask
// in Pascal VOC's form, or a coloured mask that keeps its labels.
static inline int cimg_png_encode_palette(const unsigned char *indices, int width, int height, const unsigned char *palette,
                                          unsigned char **out, size_t *out_size, char message[64]) {
    return cimg_png_write(PNG_FORMAT_RGB_COLORMAP, width, height, indices, palette, out, out_size, message);
}
