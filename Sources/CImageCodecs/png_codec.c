// PNG decoding and encoding with libpng. libpng reports fatal errors through an error callback
// that must not return: we longjmp back to the entry point and return a status + message.
#include "image_codecs.h"
#include "rgba.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const unsigned char *data;
    size_t size;
    size_t offset;
    volatile int truncated;  // set by a callback, read after longjmp: must not be cached
    char *message;  // IC_MESSAGE_CAPACITY bytes
} png_memory_reader;

static void record_error_and_jump(png_structp png, png_const_charp text) {
    char *message = (char *)png_get_error_ptr(png);
    if (message && message[0] == 0) {
        snprintf(message, IC_MESSAGE_CAPACITY, "%s", text);
    }
    png_longjmp(png, 1);
}

static void ignore_warning(png_structp png, png_const_charp text) {
    (void)png;
    (void)text;
}

static void read_from_memory(png_structp png, png_bytep destination, size_t count) {
    png_memory_reader *reader = (png_memory_reader *)png_get_io_ptr(png);
    if (count > reader->size - reader->offset) {
        reader->truncated = 1;
        png_error(png, "the data ends before the image does");
    }
    memcpy(destination, reader->data + reader->offset, count);
    reader->offset += count;
}

// PIL's Image.alpha_composite of a pixel over opaque white (ImagingAlphaComposite with
// dst = (255, 255, 255, 255), 7 extra bits of precision, rounded division by 255).
static unsigned char over_white(int colour, int alpha) {
    if (alpha == 0) return 255;
    unsigned int coef1 = (unsigned int)alpha * 128;  // src.a * 255 * 255 * 128 / (255 * 255)
    unsigned int coef2 = 255 * 128 - coef1;
    unsigned int t = (unsigned int)colour * coef1 + 255u * coef2 + (0x80u << 7);
    return (unsigned char)((((t >> 8) + t) >> 8) >> 7);
}

// Compacts (count, 4) RGBA in place to (count, 3) RGB; forward order is safe because the write
// position never passes the read position.
void ic_rgba_to_rgb(unsigned char *pixels, size_t count, ic_alpha_mode alpha) {
    for (size_t i = 0; i < count; i++) {
        const unsigned char *in = pixels + 4 * i;
        unsigned char r = in[0], g = in[1], b = in[2], a = in[3];
        unsigned char *out = pixels + 3 * i;
        if (alpha == IC_ALPHA_WHITE) {
            out[0] = over_white(r, a);
            out[1] = over_white(g, a);
            out[2] = over_white(b, a);
        } else {
            out[0] = r;
            out[1] = g;
            out[2] = b;
        }
    }
}

ic_status ic_decode_png(const unsigned char *data, size_t size, ic_alpha_mode alpha, ic_image *out) {
    png_memory_reader reader = {data, size, 0, 0, NULL};
    unsigned char *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    volatile ic_status status = IC_OK;

    memset(out, 0, sizeof(*out));
    reader.message = out->message;
    if (size < 8 || png_sig_cmp(data, 0, 8) != 0) {
        snprintf(out->message, IC_MESSAGE_CAPACITY, "missing PNG signature");
        return IC_ERROR_CORRUPT;
    }
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, out->message,
                                             record_error_and_jump, ignore_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(png ? &png : NULL, NULL, NULL);
        snprintf(out->message, IC_MESSAGE_CAPACITY, "out of memory for the PNG decoder");
        return IC_ERROR_MEMORY;
    }
    if (setjmp(png_jmpbuf(png))) {
        if (status == IC_OK) status = reader.truncated ? IC_ERROR_TRUNCATED : IC_ERROR_CORRUPT;
        png_destroy_read_struct(&png, &info, NULL);
        free(rows);
        free(pixels);
        return status;
    }
    png_set_read_fn(png, &reader, read_from_memory);
    png_read_info(png, info);

    png_uint_32 width = png_get_image_width(png, info), height = png_get_image_height(png, info);
    if ((long long)width * (long long)height > IC_MAX_PIXELS) {
        snprintf(out->message, IC_MESSAGE_CAPACITY, "%u x %u pixels is more than the %lld allowed",
                 width, height, IC_MAX_PIXELS);
        status = IC_ERROR_TOO_LARGE;
        png_longjmp(png, 1);
    }
    // Everything to 8-bit RGB, or RGBA when there is alpha or a tRNS chunk. The colour of a
    // transparent pixel survives (PIL keeps it too); ic_rgba_to_rgb then drops or composites alpha.
    int color_type = png_get_color_type(png, info);
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(png, info) < 8) {
        png_set_expand_gray_1_2_4_to_8(png);
    }
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    png_set_strip_16(png);  // keeps the high byte, like PIL's "RGB;16B" unpackers
    if (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_GRAY_ALPHA) {
        png_set_gray_to_rgb(png);
    }
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int channels = png_get_channels(png, info);
    if (png_get_bit_depth(png, info) != 8 || (channels != 3 && channels != 4)) {
        snprintf(out->message, IC_MESSAGE_CAPACITY, "cannot convert %d-bit %d-channel pixels to RGB",
                 png_get_bit_depth(png, info), channels);
        status = IC_ERROR_UNSUPPORTED;
        png_longjmp(png, 1);
    }
    size_t stride = (size_t)width * (size_t)channels;
    pixels = malloc(stride * height);
    rows = malloc(sizeof(png_bytep) * height);
    if (!pixels || !rows) {
        snprintf(out->message, IC_MESSAGE_CAPACITY, "out of memory for %u x %u pixels", width, height);
        status = IC_ERROR_MEMORY;
        png_longjmp(png, 1);
    }
    for (png_uint_32 y = 0; y < height; y++) rows[y] = pixels + y * stride;
    png_read_image(png, rows);
    // No png_read_end: the pixels are complete, and trailing chunks (or their absence) do not
    // change them.
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    if (channels == 4) ic_rgba_to_rgb(pixels, (size_t)width * height, alpha);
    out->pixels = pixels;
    out->width = (int)width;
    out->height = (int)height;
    return IC_OK;
}

typedef struct {
    unsigned char *volatile data;  // grown by a callback, freed after longjmp: must not be cached
    size_t size;
    size_t capacity;
} png_memory_writer;

static void write_to_memory(png_structp png, png_bytep source, size_t count) {
    png_memory_writer *writer = (png_memory_writer *)png_get_io_ptr(png);
    if (count > writer->capacity - writer->size) {
        size_t capacity = writer->capacity ? writer->capacity : 4096;
        while (count > capacity - writer->size) capacity *= 2;
        unsigned char *grown = realloc(writer->data, capacity);
        if (!grown) png_error(png, "out of memory for the PNG output");
        writer->data = grown;
        writer->capacity = capacity;
    }
    memcpy(writer->data + writer->size, source, count);
    writer->size += count;
}

static void flush_nothing(png_structp png) { (void)png; }

ic_status ic_encode_png(const unsigned char *rgb, int width, int height,
                        unsigned char **png_out, size_t *png_size, char *message) {
    png_memory_writer writer = {NULL, 0, 0};
    png_bytep *volatile rows = NULL;

    *png_out = NULL;
    *png_size = 0;
    message[0] = 0;
    if (width <= 0 || height <= 0) {
        snprintf(message, IC_MESSAGE_CAPACITY, "cannot encode an empty %d x %d image", width, height);
        return IC_ERROR_UNSUPPORTED;
    }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, message,
                                              record_error_and_jump, ignore_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(png ? &png : NULL, NULL);
        snprintf(message, IC_MESSAGE_CAPACITY, "out of memory for the PNG encoder");
        return IC_ERROR_MEMORY;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(rows);
        free(writer.data);
        return IC_ERROR_MEMORY;  // the only failure left once the arguments are valid
    }
    png_set_write_fn(png, &writer, write_to_memory, flush_nothing);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    rows = malloc(sizeof(png_bytep) * (size_t)height);
    if (!rows) png_error(png, "out of memory for the PNG rows");
    for (int y = 0; y < height; y++) rows[y] = (png_bytep)(rgb + (size_t)y * (size_t)width * 3);
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    *png_out = writer.data;
    *png_size = writer.size;
    return IC_OK;
}
