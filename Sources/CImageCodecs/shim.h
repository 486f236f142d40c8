// Image and compression libraries from Debian: libjpeg-turbo (TurboJPEG API), libpng, zlib.
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

// Encodes 8-bit grey or RGB pixels as PNG into a malloc'd buffer.
static inline int cimg_png_encode(const unsigned char *pixels, int width, int height, int channels,
                                  unsigned char **out, size_t *out_size, char message[64]) {
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.width = (png_uint_32)width;
    image.height = (png_uint_32)height;
    image.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    png_alloc_size_t size = 0;
    if (!png_image_write_to_memory(&image, NULL, &size, 0, pixels, 0, NULL)) {
        strncpy(message, image.message, 63); message[63] = 0;
        return 1;
    }
    unsigned char *buffer = (unsigned char *)malloc(size);
    if (!buffer) { strcpy(message, "out of memory"); return 1; }
    if (!png_image_write_to_memory(&image, buffer, &size, 0, pixels, 0, NULL)) {
        strncpy(message, image.message, 63); message[63] = 0;
        free(buffer);
        return 1;
    }
    *out = buffer;
    *out_size = size;
    return 0;
}
