#ifndef DISCERN_IMAGE_CODECS_RGBA_H
#define DISCERN_IMAGE_CODECS_RGBA_H
// Shared by the PNG and WebP decoders (not part of the module's public header).
#include "image_codecs.h"

// Compacts (count, 4) RGBA in place to (count, 3) RGB, dropping alpha or compositing over white.
void ic_rgba_to_rgb(unsigned char *pixels, size_t count, ic_alpha_mode alpha);

#endif
