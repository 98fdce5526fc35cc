#ifndef BCOS_CJPEG_SHIM_H
#define BCOS_CJPEG_SHIM_H
#include <stddef.h>
#include <stdio.h>
#include <turbojpeg.h>
#endif
