// WebP decoding (lossy, lossless, with or without alpha) and lossless encoding with libwebp. libwebp reports errors by
// return value, so no longjmp is involved; it lives here so every format goes through one layer.
#include "image_codecs.h"
#include "rgba.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <webp/decode.h>
#include <webp/encode.h>

// WebP's status codes as this module's.
static ic_status status_of(VP8StatusCode code) {
    switch (code) {
    case VP8_STATUS_NOT_ENOUGH_DATA: return IC_ERROR_TRUNCATED;
    case VP8_STATUS_OUT_OF_MEMORY: return IC_ERROR_MEMORY;
    case VP8_STATUS_UNSUPPORTED_FEATURE: return IC_ERROR_UNSUPPORTED;
    default: return IC_ERROR_CORRUPT;
    }
}

ic_status ic_decode_webp(const unsigned char *data, size_t size, ic_alpha_mode alpha, ic_image *out) {
    memset(out, 0, sizeof(*out));
    WebPBitstreamFeatures features;
    VP8StatusCode code = WebPGetFeatures(data, size, &features);
    if (code != VP8_STATUS_OK) {
        snprintf(out->message, IC_MESSAGE_CAPACITY, "cannot read the WebP header (libwebp status %d)", (int)code);
        return status_of(code);
    }
    if (features.has_animation) {
        snprintf(out->message, IC_MESSAGE_CAPACITY, "an animated WebP has no single image");
        return IC_ERROR_UNSUPPORTED;
    }
    long long pixels = (long long)features.width * features.height;
    if (features.width <= 0 || features.height <= 0 || pixels > IC_MAX_PIXELS) {
        snprintf(out->message, IC_MESSAGE_CAPACITY, "%d x %d pixels (at most %lld accepted)",
                 features.width, features.height, (long long)IC_MAX_PIXELS);
        return IC_ERROR_TOO_LARGE;
    }
    // Colour is decoded as stored (not premultiplied), so dropping alpha matches PIL's convert("RGB").
    int channels = features.has_alpha && alpha == IC_ALPHA_WHITE ? 4 : 3;
    size_t bytes = (size_t)pixels * channels;
    unsigned char *rgb = malloc(bytes);
    if (!rgb) {
        snprintf(out->message, IC_MESSAGE_CAPACITY, "cannot allocate %zu bytes", bytes);
        return IC_ERROR_MEMORY;
    }
    int stride = features.width * channels;
    unsigned char *done = channels == 4 ? WebPDecodeRGBAInto(data, size, rgb, bytes, stride)
                                        : WebPDecodeRGBInto(data, size, rgb, bytes, stride);
    if (!done) {
        free(rgb);
        // The header was fine, so a failure is a damaged or cut-short bitstream.
        snprintf(out->message, IC_MESSAGE_CAPACITY, "the image data is damaged or cut short");
        return IC_ERROR_CORRUPT;
    }
    if (channels == 4) ic_rgba_to_rgb(rgb, (size_t)pixels, alpha);
    out->pixels = rgb;
    out->width = features.width;
    out->height = features.height;
    return IC_OK;
}

ic_status ic_encode_webp_lossless(const unsigned char *rgb, int width, int height,
                                  unsigned char **webp, size_t *webp_size, char *message) {
    *webp = NULL;
    *webp_size = 0;
    uint8_t *encoded = NULL;
    size_t size = WebPEncodeLosslessRGB(rgb, width, height, width * 3, &encoded);
    if (size == 0 || !encoded) {
        snprintf(message, IC_MESSAGE_CAPACITY, "libwebp could not encode a %d x %d image", width, height);
        return IC_ERROR_UNSUPPORTED;
    }
    // Copied into malloc'd memory so ic_free releases it like every other buffer of this module.
    *webp = malloc(size);
    if (!*webp) {
        WebPFree(encoded);
        snprintf(message, IC_MESSAGE_CAPACITY, "cannot allocate %zu bytes", size);
        return IC_ERROR_MEMORY;
    }
    memcpy(*webp, encoded, size);
    *webp_size = size;
    WebPFree(encoded);
    return IC_OK;
}
