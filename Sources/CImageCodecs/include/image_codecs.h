#ifndef DISCERN_IMAGE_CODECS_H
#define DISCERN_IMAGE_CODECS_H
// JPEG (libjpeg-turbo), PNG (libpng) and WebP (libwebp) decoding into 8-bit RGB, and PNG encoding.
// Both libraries report errors with longjmp, which Swift cannot catch: every entry point here
// catches them and returns an error code plus a message instead. The libraries never print.

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    IC_OK = 0,
    IC_ERROR_CORRUPT = 1,    // the data is not a valid file of the requested format
    IC_ERROR_TRUNCATED = 2,  // the data ends before the image does
    IC_ERROR_TOO_LARGE = 3,  // width * height is beyond IC_MAX_PIXELS (decompression-bomb guard)
    IC_ERROR_MEMORY = 4,     // malloc failed
    IC_ERROR_UNSUPPORTED = 5 // a valid file this decoder cannot convert to RGB
} ic_status;

// What to do with an alpha channel (or a tRNS transparency chunk).
typedef enum {
    // Ignore alpha, keep the colour as stored: PIL's `Image.convert("RGB")`, as used by LLaVA's
    // training code and transformers 4.x.
    IC_ALPHA_DROP = 0,
    // Composite over an opaque white background with PIL's integer `alpha_composite`, as
    // transformers 5.x's `convert_to_rgb` does.
    IC_ALPHA_WHITE = 1
} ic_alpha_mode;

// Largest accepted width * height: twice PIL's MAX_IMAGE_PIXELS, the point where PIL refuses.
#define IC_MAX_PIXELS 178956970LL

#define IC_MESSAGE_CAPACITY 256

// A decoded image: `pixels` is (height, width, 3) RGB8 interleaved, allocated with malloc and
// released with ic_free. `message` explains a non-OK status.
typedef struct {
    unsigned char *pixels;
    int width;
    int height;
    char message[IC_MESSAGE_CAPACITY];
} ic_image;

// Decodes a JPEG (baseline or progressive; grayscale, YCbCr, RGB, CMYK or YCCK) from memory.
// Grayscale is replicated to RGB; CMYK is converted the way PIL does (Adobe polarity).
ic_status ic_decode_jpeg(const unsigned char *data, size_t size, ic_image *out);

// Decodes a PNG (any bit depth, palette, grayscale, alpha, interlaced) from memory. 16-bit
// samples keep their most significant byte, as PIL does for RGB(A) and LA.
ic_status ic_decode_png(const unsigned char *data, size_t size, ic_alpha_mode alpha, ic_image *out);

// Decodes a still WebP (lossy or lossless, with or without alpha) from memory; an animated one
// is IC_ERROR_UNSUPPORTED.
ic_status ic_decode_webp(const unsigned char *data, size_t size, ic_alpha_mode alpha, ic_image *out);

// Encodes RGB8 interleaved pixels as a lossless WebP into a malloc'd buffer released with ic_free
// (the tests write WebP members with it; decoding it gives the same pixels back).
ic_status ic_encode_webp_lossless(const unsigned char *rgb, int width, int height,
                                  unsigned char **webp, size_t *webp_size, char *message);

// Encodes RGB8 interleaved pixels (height, width, 3) as an 8-bit RGB PNG into a malloc'd buffer
// (*png, *png_size) released with ic_free. `message` (IC_MESSAGE_CAPACITY bytes) gets the reason
// for a non-OK status.
ic_status ic_encode_png(const unsigned char *rgb, int width, int height,
                        unsigned char **png, size_t *png_size, char *message);

// Releases memory returned by this module.
void ic_free(void *pointer);

#ifdef __cplusplus
}
#endif

#endif
