#ifndef BCOS_CZLIB_SHIM_H
#define BCOS_CZLIB_SHIM_H
#include <zlib.h>
/* inflateInit2 and deflateInit2 are macros; expose them as functions Swift can call. */
static inline int bcos_inflate_init2(z_streamp strm, int windowBits) {
    return inflateInit2(strm, windowBits);
}
/* The tests write gzip files with this (windowBits 15 + 16: gzip header and trailer). */
static inline int bcos_deflate_init2(z_streamp strm, int level, int windowBits) {
    return deflateInit2(strm, level, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY);
}
#endif
