#ifndef BCOS_CPNG_SHIM_H
#define BCOS_CPNG_SHIM_H
#include <png.h>

/* Swift does not import macros built from other macros; re-export the ones the
   simplified API (png_image_*) needs as typed constants. */
static const png_uint_32 bcos_png_image_version = PNG_IMAGE_VERSION;
static const png_uint_32 bcos_png_format_gray = PNG_FORMAT_GRAY;
static const png_uint_32 bcos_png_format_rgb = PNG_FORMAT_RGB;
static const png_uint_32 bcos_png_format_rgba = PNG_FORMAT_RGBA;
static const png_uint_32 bcos_png_format_flag_linear = PNG_FORMAT_FLAG_LINEAR;
static const png_uint_32 bcos_png_image_flag_16bit_srgb = PNG_IMAGE_FLAG_16BIT_sRGB;

/* Upper bound on the encoded size of `image` (PNG_IMAGE_PNG_SIZE_MAX), for png_image_write_to_memory. */
static inline png_alloc_size_t bcos_png_image_png_size_max(const png_image *image) {
    return PNG_IMAGE_PNG_SIZE_MAX(*image);
}

#endif
