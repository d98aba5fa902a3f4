#ifndef DISCERN_IMAGE_CODECS_H
#define DISCERN_IMAGE_CODECS_H
// Filled in by the image work: JPEG/PNG decoding with errors returned as values.
#endif
