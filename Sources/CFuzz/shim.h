#ifndef BCOS_CFUZZ_SHIM_H
#define BCOS_CFUZZ_SHIM_H
#include <stddef.h>
#include <stdint.h>

/* libFuzzer's entry point for a program that keeps its own main (compiler-rt FuzzerInterface.h). It is linked in
   only by -sanitize=fuzzer, so only the BCOS_FUZZ build of bcos-fuzz calls it. */
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
