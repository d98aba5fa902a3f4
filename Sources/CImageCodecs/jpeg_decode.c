// JPEG decoding with libjpeg-turbo. libjpeg reports fatal errors through error_exit, which must
// not return: we longjmp back to ic_decode_jpeg and turn the error into a status + message.
#include "image_codecs.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

typedef struct {
    struct jpeg_error_mgr base;  // first, so a j_common_ptr's err can be cast to this struct
    jmp_buf jump;
    volatile int truncated;  // set by a callback, read after longjmp: must not be cached
} jpeg_error_catcher;

static void catch_error_exit(j_common_ptr cinfo) {
    jpeg_error_catcher *catcher = (jpeg_error_catcher *)cinfo->err;
    longjmp(catcher->jump, 1);
}

// Warnings are silent, except running out of data: libjpeg would pad the missing rows with grey
// and carry on, while PIL refuses such a file ("image file is truncated"), and so do we.
static void catch_emit_message(j_common_ptr cinfo, int level) {
    jpeg_error_catcher *catcher = (jpeg_error_catcher *)cinfo->err;
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
        catcher->truncated = 1;
        longjmp(catcher->jump, 1);
    }
}

static void silent_output_message(j_common_ptr cinfo) { (void)cinfo; }

static unsigned char clip8(int value) {
    return (unsigned char)(value <= 0 ? 0 : value < 256 ? value : 255);
}

// PIL's (a * b + 128) / 255 with its shift trick; used so CMYK converts bit-identically.
static int muldiv255(int a, int b) {
    int t = a * b + 128;
    return ((t >> 8) + t) >> 8;
}

// One scanline of decoded samples to RGB. CMYK follows PIL: it reads CMYK JPEGs as inverted
// (Adobe/Photoshop polarity, "CMYK;I") and converts with r = (255 - k) * (1 - c / 255).
static void scanline_to_rgb(const unsigned char *in, unsigned char *out, int width, int components) {
    if (components == 3) {
        memcpy(out, in, (size_t)width * 3);
    } else if (components == 1) {
        for (int x = 0; x < width; x++) {
            out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = in[x];
        }
    } else {
        for (int x = 0; x < width; x++) {
            const unsigned char *p = in + 4 * x;
            int nk = p[3];  // 255 - (255 - k): the stored value is already inverted
            for (int c = 0; c < 3; c++) {
                int ink = 255 - p[c];
                out[3 * x + c] = clip8(nk - muldiv255(ink, nk));
            }
        }
    }
}

ic_status ic_decode_jpeg(const unsigned char *data, size_t size, ic_image *out) {
    struct jpeg_decompress_struct cinfo;
    jpeg_error_catcher catcher;
    unsigned char *volatile pixels = NULL;
    unsigned char *volatile row = NULL;
    volatile ic_status status = IC_OK;

    memset(out, 0, sizeof(*out));
    cinfo.err = jpeg_std_error(&catcher.base);
    catcher.base.error_exit = catch_error_exit;
    catcher.base.emit_message = catch_emit_message;
    catcher.base.output_message = silent_output_message;
    catcher.truncated = 0;

    if (setjmp(catcher.jump)) {
        if (status == IC_OK) {
            char text[JMSG_LENGTH_MAX];
            (*catcher.base.format_message)((j_common_ptr)&cinfo, text);
            snprintf(out->message, IC_MESSAGE_CAPACITY, "%s", text);
            status = catcher.truncated ? IC_ERROR_TRUNCATED : IC_ERROR_CORRUPT;
        }
        jpeg_destroy_decompress(&cinfo);
        free(row);
        free(pixels);
        return status;
    }

    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    if (jpeg_read_header(&cinfo, TRUE) != JPEG_HEADER_OK) {
        snprintf(out->message, IC_MESSAGE_CAPACITY, "no image in the JPEG data (tables only)");
        status = IC_ERROR_CORRUPT;
        longjmp(catcher.jump, 1);
    }
    long long pixel_count = (long long)cinfo.image_width * cinfo.image_height;
    if (pixel_count > IC_MAX_PIXELS) {
        snprintf(out->message, IC_MESSAGE_CAPACITY, "%u x %u pixels is more than the %lld allowed",
                 cinfo.image_width, cinfo.image_height, IC_MAX_PIXELS);
        status = IC_ERROR_TOO_LARGE;
        longjmp(catcher.jump, 1);
    }
    switch (cinfo.jpeg_color_space) {
        case JCS_GRAYSCALE: cinfo.out_color_space = JCS_GRAYSCALE; break;
        case JCS_CMYK:
        case JCS_YCCK: cinfo.out_color_space = JCS_CMYK; break;
        default: cinfo.out_color_space = JCS_RGB; break;
    }
    jpeg_start_decompress(&cinfo);

    int width = (int)cinfo.output_width, height = (int)cinfo.output_height;
    int components = cinfo.output_components;
    if (components != 1 && components != 3 && components != 4) {
        snprintf(out->message, IC_MESSAGE_CAPACITY, "%d colour components are not supported", components);
        status = IC_ERROR_UNSUPPORTED;
        longjmp(catcher.jump, 1);
    }
    pixels = malloc((size_t)width * (size_t)height * 3);
    row = malloc((size_t)width * (size_t)components);
    if (!pixels || !row) {
        snprintf(out->message, IC_MESSAGE_CAPACITY, "out of memory for %d x %d pixels", width, height);
        status = IC_ERROR_MEMORY;
        longjmp(catcher.jump, 1);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        int y = (int)cinfo.output_scanline;
        JSAMPROW rows[1] = {row};
        if (jpeg_read_scanlines(&cinfo, rows, 1) != 1) {
            snprintf(out->message, IC_MESSAGE_CAPACITY, "decoder stopped at row %d of %d", y, height);
            status = IC_ERROR_TRUNCATED;
            longjmp(catcher.jump, 1);
        }
        scanline_to_rgb(row, pixels + (size_t)y * (size_t)width * 3, width, components);
    }
    // No jpeg_finish_decompress: every pixel is in, and a file missing only its final EOI
    // marker (common, and accepted by PIL) must not fail here.
    jpeg_destroy_decompress(&cinfo);
    free(row);
    out->pixels = pixels;
    out->width = width;
    out->height = height;
    return IC_OK;
}

void ic_free(void *pointer) { free(pointer); }
